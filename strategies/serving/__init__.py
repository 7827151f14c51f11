"""OpenAI-compatible servers a strategy starts itself (llama.cpp, vLLM) or finds running, with LoRA adapters."""
