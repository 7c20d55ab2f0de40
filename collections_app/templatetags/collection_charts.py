"""`{% collection_charts source as charts %}`: the 24-hour charts of the collection page's monitoring card."""

from __future__ import annotations

from django import template
from django.utils import timezone

from collections_app import charts
from collections_app.models import Source

register = template.Library()


@register.simple_tag
def collection_charts(source: Source) -> list[charts.Chart]:
    return charts.for_source(source.pk, timezone.now())
