"""A stateful Stripe API emulator for the sandbox and the tests (see README.md)."""

from .emulator import StripeEmulator
from .server import API_KEY, EmulatorHandle, run_emulator

__all__ = ["API_KEY", "EmulatorHandle", "StripeEmulator", "run_emulator"]
