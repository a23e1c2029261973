"""The backup commands (the backup sets themselves are derived in municloud.core.backup_sets)."""
