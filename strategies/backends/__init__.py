"""Chat model backends behind one interface: in-process llama.cpp and OpenAI-compatible endpoints."""
