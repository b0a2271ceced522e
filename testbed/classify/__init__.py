"""The reading censor: what a flow's first packets say (TLS, HTTP), read in userspace."""
