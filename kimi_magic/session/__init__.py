"""The turn engine: one Session owns what lives across calls and runs every question."""
