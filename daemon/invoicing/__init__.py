"""The monthly invoice batch: months, fees and spend per community (pure), rendering, and when it is due."""
