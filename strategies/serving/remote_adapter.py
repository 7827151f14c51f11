"""Serving a trained adapter on a server that is already running: by the name it already serves it under, or by
loading it through the server's API (vLLM's `POST /v1/load_lora_adapter`, enabled on the server with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`)."""

from __future__ import annotations

from pathlib import Path

import httpx

from evals.core.errors import ConfigError
from evals.infra.openai_compat import ApiKey

ALREADY_LOADED = "already been loaded"
"""vLLM's 400 reply to loading a name twice: the adapter is there, which is what was asked."""


def load_adapter(base_url: str, api_key_env: str, name: str, peft_dir: Path, timeout: float = 120.0) -> str:
    """Ask the server at `base_url` to load the peft adapter in `peft_dir` as `name`; returns `name`.

    The path must be readable by the server (same machine or a shared disk). ConfigError when the server has no
    such API (set `generator.adapter_name` instead) or refuses the adapter (its reason quoted)."""
    key = ApiKey(api_key_env, base_url)
    url = f"{base_url.rstrip('/')}/load_lora_adapter"
    try:
        response = httpx.post(
            url,
            json={"lora_name": name, "lora_path": str(peft_dir)},
            headers={"Authorization": f"Bearer {key.value}"},
            timeout=timeout,
        )
    except httpx.HTTPError as error:
        raise ConfigError(f"cannot reach {url} to load adapter {name!r}: {key.mask(str(error))}") from None
    said = key.mask(response.text[:500])
    if response.status_code in (404, 405):
        raise ConfigError(
            f"{base_url} has no adapter-loading API ({url} answered {response.status_code}): start it with the "
            "adapter already loaded and set generator.adapter_name to the name it serves it under (vLLM: "
            "--lora-modules NAME=PATH; llama.cpp: --lora_path with --model_alias NAME), or run vLLM with "
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
        )
    if response.status_code == 400 and ALREADY_LOADED in response.text:
        return name
    if response.status_code != 200:
        raise ConfigError(f"{base_url} refused adapter {peft_dir} (HTTP {response.status_code}): {said}")
    return name
