"""An agent's working memory, declared under ``working_memory:`` (or
``Agent(working_memory=...)``)::

    working_memory:
      max_prompt_tokens: 4096     # the prompt (system, summaries, turns, tool specs) stays under it
      keep_recent_turns: 4        # newest turns / steps always shown verbatim
      summarizer: extractive      # or "model" (asks summary_model, default the agent's model)
      summary_share: 0.35         # of the budget, before old summaries are condensed further

Unset, a run shows its whole conversation (as before) and the agent's version hash is the one
it had before this field existed; a run in a session (``Runtime.run(..., session=...)``) uses
these defaults.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WorkingMemory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_prompt_tokens: int = Field(
        default=4096, ge=256, le=2_000_000, description="prompt tokens per model call"
    )
    keep_recent_turns: int = Field(
        default=4, ge=1, le=1000, description="newest turns or steps never summarized"
    )
    summarizer: Literal["extractive", "model"] = "extractive"
    summary_model: str | None = Field(
        default=None, description="model id for summarizer 'model'; default the agent's model"
    )
    summary_share: float = Field(
        default=0.35, ge=0.1, le=0.8, description="share of the budget summaries may take"
    )

    @model_validator(mode="after")
    def _model_only_for_model_summaries(self) -> Self:
        if self.summary_model is not None and self.summarizer != "model":
            raise ValueError(
                "summary_model is only used with summarizer: model; set summarizer: model "
                "or remove summary_model"
            )
        return self
