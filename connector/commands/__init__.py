"""One module per `caspio-stripe` command; each exposes a click command named `command`."""
