"""gRPC edge pieces shared by both daemons: status mapping, channels."""
