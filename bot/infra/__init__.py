"""What every part of the runtime stands on: settings, the clock, leases between workers, group
commit and supervised tasks."""
