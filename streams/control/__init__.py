"""The control plane: one agent applies every change to a tenant's registry, in order."""
