"""The LMs generation talks to: backends and retry policy, the batched in-process model, the lenient adapter for weak
models, and a scripted OpenAI-compatible server for dry runs and tests."""
