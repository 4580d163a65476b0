"""Templates and messages arrive with the communications issue."""
