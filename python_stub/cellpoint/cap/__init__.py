"""The CAP network (encoder + tracker), its training and its ONNX export."""
