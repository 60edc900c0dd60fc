"""Schema catalogues for evolution tests: the real one, with an older version of a topic's schema as the
current one, so a codec writes (and reads) as an old producer or consumer would."""

from __future__ import annotations

from alstream.streams.schemas import SchemaCatalog, default_catalog


def catalog_with_old_current(topic_key: str) -> SchemaCatalog:
    """The default catalogue where ``topic_key``'s (only) history version is the current one."""
    versions = default_catalog().versions()
    old = next(v for v in versions if v.topic_key == topic_key and not v.is_current)
    return SchemaCatalog(
        [
            type(v)(
                topic_key=v.topic_key,
                full_name=v.full_name,
                schema=v.schema,
                canonical_form=v.canonical_form,
                fingerprint=v.fingerprint,
                path=v.path,
                is_current=(v is old) if v.topic_key == topic_key else v.is_current,
                source_json=v.source_json,
            )
            for v in versions
        ]
    )
