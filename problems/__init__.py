"""Problem adapters. Each module registers its problems in ``blackbox.registry``."""
