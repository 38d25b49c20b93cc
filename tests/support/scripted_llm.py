"""TEST DOUBLE: a scripted stand-in for a language model, for tests only (never shipped as an engine).

`ScriptedLlmDouble` follows the solver's `GenerationBackend` protocol. Instead of sampling a model it
answers each prompt with fixed text chosen by a script: a list of (operator, reply) rules, where the
operator is read from the prompt ("generate", "refine" or "crossover") and the reply is canned model
output (fences, prose and all). It records every prompt it was sent, so tests can check what the
operators asked, and counts tokens as whitespace-separated words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arcforge_solver.engines.llm.backend import Completion, GenerationRequest, GenerationStats


def prompt_operator(prompt: str) -> str:
    """Which operator wrote a prompt, from its wording."""
    if "Program A" in prompt and "Program B" in prompt:
        return "crossover"
    if "This program was tried" in prompt:
        return "refine"
    return "generate"


Reply = str | Callable[[str, int], str]
"""Fixed text, or a function of (prompt, sample number) giving the text."""


@dataclass
class ScriptedLlmDouble:
    replies: dict[str, Sequence[Reply]]
    """operator -> replies, used in turn (the last one repeats)."""
    name: str = "scripted-test-double"
    delay_s: float = 0.0
    """Seconds each request takes, like a real model; `should_stop` ends the wait early."""
    prompts: list[str] = field(default_factory=list)
    requests: list[GenerationRequest] = field(default_factory=list)
    _turns: dict[str, int] = field(default_factory=dict)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render(self, content: str) -> str:
        return f"<user>\n{content}\n<assistant>\n"

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]:
        self.requests.append(request)
        waited_until = time.monotonic() + self.delay_s
        while time.monotonic() < waited_until and not (request.should_stop and request.should_stop()):
            time.sleep(0.02)
        stats = GenerationStats(prompts=len(request.prompts))
        completions: list[Completion] = []
        for index, prompt in enumerate(request.prompts):
            self.prompts.append(prompt)
            operator = prompt_operator(prompt)
            script = self.replies.get(operator) or self.replies.get("generate") or [""]
            for sample in range(request.samples):
                turn = self._turns.get(operator, 0)
                self._turns[operator] = turn + 1
                reply = script[min(turn, len(script) - 1)]
                text = reply(prompt, sample) if callable(reply) else reply
                tokens = min(len(text.split()), request.max_new_tokens)
                stats.new_tokens += tokens
                completions.append(Completion(index, text, tokens))
            stats.prompt_tokens += self.count_tokens(prompt)
        stats.seconds = 0.001 * max(1, stats.new_tokens)
        return completions, stats
