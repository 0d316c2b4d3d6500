"""Pure domain: models, enums, the status state machine, conditions. No IO."""
