"""The kernel's engine, src/engine/'s twin: preprocessing, RAW, the division judge, the model."""
