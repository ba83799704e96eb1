"""The Generate screen: style and settings for the selected products, the photo check, the cost estimate, launch,
and the live progress of the job this session launched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib import actions, catalog, jobs
from lib.auth.roles import Actor
from lib.catalog import SelectionState, SourceCheck, SourceRef
from lib.connections import active_connection
from lib.errors import AppError
from lib.generation import direction, prompts
from lib.generation.base import ASPECT_RATIOS, OUTPUT_SIZES
from lib.generation.studio import preset_preview
from lib.kinds import Kind
from lib.labels import job_title, kind_label
from lib.models import Job
from lib.screens.progress import ProgressView, progress_view

if TYPE_CHECKING:
    from lib.runtime import Runtime


@dataclass(frozen=True)
class ProviderChoice:
    name: str
    label: str
    models: tuple[str, ...]
    available: bool
    note: str  # why it is unavailable, or a short description
    short: str  # the engine's name in the cost summary
    batch: bool  # offers batch mode and reference shots


def provider_choices(runtime: Runtime) -> list[ProviderChoice]:
    has_key = runtime.settings.gemini_api_key is not None or active_connection(runtime.db, Kind.GEMINI) is not None
    return [
        ProviderChoice(
            Kind.STUDIO,
            Kind.STUDIO.label,
            (jobs.STUDIO_MODEL,),
            True,
            "Runs on this machine, no key, no cost. Good for demos and for trying styles.",
            "Studio",
            False,
        ),
        ProviderChoice(
            Kind.GEMINI,
            Kind.GEMINI.label,
            tuple(runtime.settings.gemini_models),
            has_key,
            "Photo-real results; billed per image by Google."
            if has_key
            else "Add a Gemini API key on the Connect page to use it.",
            "Gemini",
            True,
        ),
    ]


class GenerateScreen:
    AUTO_STYLE = prompts.AUTO_STYLE
    PRESETS = prompts.PRESETS
    ASPECT_RATIOS = ASPECT_RATIOS
    OUTPUT_SIZES = OUTPUT_SIZES
    MAX_VARIANTS = jobs.MAX_VARIANTS
    MAX_FIDELITY_RETRIES = jobs.MAX_FIDELITY_RETRIES
    JobSpec = jobs.JobSpec  # the page fills one in from its widgets
    STUDIO_DIRECTION = f"{direction.CAN} {direction.CANNOT}"  # what the offline engine takes from extra direction

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # The job this session follows

    def job(self, job_id: int) -> Job | None:
        try:
            return jobs.get_job(self.runtime.db, job_id)
        except AppError:
            return None

    def progress(self, job_id: int) -> ProgressView:
        return progress_view(jobs.job_progress(self.runtime.db, job_id))

    @staticmethod
    def title(job: Job) -> str:
        return job_title(job)

    def resume(self, *, actor: Actor, job_id: int) -> None:
        actions.resume_job(self.runtime, actor=actor, job_id=job_id)

    def cancel(self, *, actor: Actor, job_id: int) -> int:
        return actions.cancel_job(self.runtime, actor=actor, job_id=job_id)

    # The form

    @staticmethod
    def source_ref(key: str) -> SourceRef:
        """The selection's source, named for the screen."""
        ref = SourceRef.from_key(key)
        return SourceRef(ref.kind, ref.connection_id, kind_label(ref.kind))

    def default_style(self, categories: list[str]) -> str:
        """The category's usual style when all products share one category, else "auto" (each its own)."""
        return prompts.default_style(categories[0]) if len(categories) == 1 else self.AUTO_STYLE

    def style_label(self, key: str) -> str:
        return "Auto (per category)" if key == self.AUTO_STYLE else self.PRESETS[key].label

    def styles_for(self, style: str, categories: list[str]) -> set[str]:
        """The presets a choice stands for: itself, or with "auto" each category's default."""
        if style == self.AUTO_STYLE:
            return {prompts.default_style(c) for c in categories}
        return {style}

    @staticmethod
    def preview(style: str) -> bytes | None:
        """A small picture of the preset (the studio engine draws it; None when it cannot)."""
        try:
            return preset_preview(style, 192)
        except AppError:
            return None

    def providers(self) -> list[ProviderChoice]:
        return provider_choices(self.runtime)

    def suggests_batch(self, provider: str, n_images: int) -> bool:
        return jobs.suggested_mode(self.runtime, provider, n_images) == "batch"

    def check_photos(
        self, ref: SourceRef, selection: SelectionState, *, demo_size: int | None = None
    ) -> tuple[list[SourceCheck], int]:
        """The selection's photos checked before launch, and how many were left for the job to check."""
        source = catalog.open_source(self.runtime, ref, demo_size=demo_size)
        return catalog.check_selection(self.runtime, source, ref, selection)

    def estimate(self, spec: jobs.JobSpec, n_items: int) -> float:
        return jobs.estimate_cost(self.runtime, spec, n_items)

    def launch(self, *, actor: Actor, spec: jobs.JobSpec, selection: SelectionState, skip: set[str]) -> Job:
        """Queue the job, unless the person's role or a monthly budget does not allow it (lib.actions.launch)."""
        return actions.launch(self.runtime, actor=actor, spec=spec, selections=selection.as_job_selections(skip=skip))
