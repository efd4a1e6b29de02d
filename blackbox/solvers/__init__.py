"""One solver per module; each registers under its name in ``blackbox.registry``."""
