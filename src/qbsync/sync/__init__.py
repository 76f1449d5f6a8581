"""The sync engine: plans (pure) and their application against QBO and the state."""
