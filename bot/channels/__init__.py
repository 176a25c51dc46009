"""Channel adapters: translate a platform's updates into inbound events and render actions."""
