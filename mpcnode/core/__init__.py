"""The pure core: numpy and hashlib/cryptography only, no gRPC, no I/O, randomness passed in."""
