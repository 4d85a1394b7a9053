"""deepseek-ls: AI code completion from DeepSeek for every LSP editor."""

__version__ = "0.1.0"
