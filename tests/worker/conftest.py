from tests.generation.conftest import emu  # noqa: F401  (the Gemini emulator fixture)
