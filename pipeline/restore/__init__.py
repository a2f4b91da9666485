"""Face restoration: the GFPGAN restorers, pasting faces back, and the engine that runs them."""
