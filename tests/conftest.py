"""Project-wide pytest configuration: fixtures from the emulators."""

pytest_plugins = [
    "sandbox.caspio.pytest_plugin",
    "sandbox.stripe.pytest_plugin",
    "tests.fixtures.sandbox",
]
