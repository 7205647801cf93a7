"""`vcm decode`: a vcm file (or a plain VVC .266) back to a picture. Needs no detector and no torch."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def run_decode(input_path: str | Path, output: str | Path, decoder: str = "pyav") -> dict[str, Any]:
    """Decode every stream, paste the object crops over the background (lowest QP on top), write the picture."""
    from vcm.codec import yuv_to_rgb
    from vcm.coding.modes import read_coded_file
    from vcm.fsutil import refuse_overwrite_input
    from vcm.media import write_picture

    t0 = time.perf_counter()
    input_path, output = Path(input_path), Path(output)
    refuse_overwrite_input(output, input_path)
    frame, vf = read_coded_file(input_path, decoder)
    rgb = yuv_to_rgb(frame, vf.matrix)
    write_picture(output, rgb)
    return {"input": str(input_path), "output": str(output), "width": vf.width, "height": vf.height,
            "matrix": vf.matrix, "plain_vvc": vf.plain, "bytes": input_path.stat().st_size,
            "streams": [{"role": s.role, "rect": list(s.rect), "qp": s.qp, "bytes": len(s.data)} for s in vf.streams],
            "seconds": round(time.perf_counter() - t0, 3)}
