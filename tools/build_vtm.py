"""Build VTM, the VVC reference software (EncoderApp and DecoderApp), from a source snapshot into a per-user cache
folder, once, with vcm's per-CTU QP map patch.

    python tools/build_vtm.py                     # prints e.g. ~/.cache/vcm/vtm/bin/EncoderApp (or: make vtm)
    python tools/build_vtm.py --source /path/to/VVCSoftware_VTM --jobs 2

VTM (vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM, BSD-3-Clause) is what MPEG's VCM common test conditions and the
DT-JRD paper measure against; no package registry ships it. The source is found at --source, $VCM_VTM_SOURCE,
or `shared/vtm` beside any folder above this repository. Its CMake writes `bin/` and `lib/` into the source tree,
so the snapshot is copied to a writable folder first; only the two apps are built (~5 min on 2 cores). The
programs land in ~/.cache/vcm/vtm/bin/ ($VCM_VTM_CACHE moves it), where vcm's `vtm` backends find them without
any environment variable. A second call with the same source only prints the path (stamp: source digest and
patch); concurrent callers are serialised by a lock file (tools/_cmake_build.py, shared with build_uvg266.py).

The patch (PATCHES below; the snapshot is left as it is) adds `--CtuQpMapFile=FILE` to EncoderApp: per picture,
every CTU is coded at the slice QP plus the map's delta (VTM has no QP map: `--dQPFile` is one delta per
picture, and `--PerceptQPA` chooses CTU QPs by itself). It takes the path PerceptQPA's CTU QPs take (the CTU's
QP and a lambda scaled by 2^(dQP/3), carried in the bitstream as CU delta QPs, enabled in the PPS), and logs
`vcm-ctu-qp POC p CTU a QP q` per CTU as written: q is the QP of the CUs that carry a residual (the QP a
decoder applies to it), `-` when none does. DecoderApp logs the same lines from the decoded bitstream when
$VCM_VTM_CTU_QPS is set, so vcm checks the map against what the decoder really reads.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cmake_build import (apply_patches, build_once, cache_root, copy_source, parse_args,  # noqa: E402
                          patches_digest, run_steps, shared_source, source_digest)

PROGRAMS = ("EncoderApp", "DecoderApp")  # the CMake targets built (of VTM's ten apps)

_HEADER = r'''/* vcm (tools/build_vtm.py): a per-CTU QP map for EncoderApp (--CtuQpMapFile) and the per-CTU QP log of
 * EncoderApp and DecoderApp. Same licence as VTM (BSD-3-Clause). */
#pragma once

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "CodingStructure.h"
#include "UnitTools.h"

namespace vcm
{
struct CtuQpMaps
{
  unsigned                      cols = 0, rows = 0;
  std::vector<std::vector<int>> maps;   // one per picture, raster CTU order; picture POC uses maps[POC % size]
};

// The map file: per picture "cols rows" then cols*rows delta QPs (whitespace separated), as uvg266's --roi text.
inline const CtuQpMaps &ctuQpMaps(const std::string &path)
{
  static std::map<std::string, CtuQpMaps> cache;
  auto                                     it = cache.find(path);
  if (it != cache.end())
  {
    return it->second;
  }
  std::ifstream f(path);
  CHECK(!f, "vcm: cannot read the CTU QP map file " << path);
  CtuQpMaps m;
  long      w, h;
  while (f >> w >> h)
  {
    CHECK(w <= 0 || h <= 0 || w > 4096 || h > 4096, "vcm: bad CTU QP map size " << w << "x" << h << " in " << path);
    CHECK(!m.maps.empty() && (w != m.cols || h != m.rows), "vcm: CTU QP maps of different sizes in " << path);
    m.cols = unsigned(w);
    m.rows = unsigned(h);
    std::vector<int> v(size_t(w * h));
    for (int &x: v)
    {
      CHECK(!(f >> x), "vcm: CTU QP map " << m.maps.size() << " is short in " << path);
    }
    m.maps.push_back(v);
  }
  CHECK(!f.eof(), "vcm: the CTU QP map file " << path << " holds something that is not a number");
  CHECK(m.maps.empty(), "vcm: the CTU QP map file " << path << " is empty");
  return cache.emplace(path, m).first->second;
}

inline int ctuQpDelta(const std::string &path, int poc, unsigned ctuRsAddr, unsigned cols, unsigned rows)
{
  const CtuQpMaps &m = ctuQpMaps(path);
  CHECK(m.cols != cols || m.rows != rows, "vcm: the CTU QP map is " << m.cols << "x" << m.rows
        << " CTUs, the picture " << cols << "x" << rows);
  return m.maps[size_t(std::max(poc, 0)) % m.maps.size()][ctuRsAddr];
}

// The luma QP of the CTU's CUs that carry a residual: "q", "lo:hi" when they differ, "-" when none does.
inline std::string ctuQpText(const CodingStructure &cs, const UnitArea &ctuArea)
{
  int lo = INT_MAX, hi = INT_MIN;
  for (const CodingUnit &cu: cs.traverseCUs(CS::getArea(cs, ctuArea, ChannelType::LUMA), ChannelType::LUMA))
  {
    bool coded = false;
    for (const TransformUnit &tu: CU::traverseTUs(cu))
    {
      for (uint32_t c = 0; c < getNumberValidComponents(cu.chromaFormat); c++)
      {
        coded = coded || (tu.blocks[c].valid() && TU::getCbf(tu, ComponentID(c)));
      }
    }
    if (coded)
    {
      lo = std::min(lo, int(cu.qp));
      hi = std::max(hi, int(cu.qp));
    }
  }
  if (lo > hi)
  {
    return "-";
  }
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + ":" + std::to_string(hi);
}

inline bool decoderLogsCtuQps()
{
  static const bool on = std::getenv("VCM_VTM_CTU_QPS") != nullptr;
  return on;
}
}   // namespace vcm
'''

_ENC = "source/Lib/EncoderLib/"
PATCHES = [
    ("source/Lib/CommonLib/VcmCtuQp.h", None, _HEADER),
    # the option, through EncAppCfg -> EncApp -> EncCfg
    ("source/App/EncoderApp/EncAppCfg.h", "  bool      m_bUsePerceptQPA;",
     "  std::string m_ctuQpMapFile;   // vcm: per-CTU delta QP map file\n  bool      m_bUsePerceptQPA;"),
    ("source/App/EncoderApp/EncAppCfg.cpp", '  ("WPSNR,-wpsnr",',
     '  ("CtuQpMapFile", m_ctuQpMapFile, std::string(""), "vcm: per-CTU delta QPs, per picture: cols rows, then '
     'cols*rows deltas added to the slice QP (POC p uses map p % maps)")\n  ("WPSNR,-wpsnr",'),
    ("source/App/EncoderApp/EncApp.cpp", "  m_cEncLib.setUsePerceptQPA ",
     "  m_cEncLib.setCtuQpMapFile( m_ctuQpMapFile );\n  m_cEncLib.setUsePerceptQPA "),
    (_ENC + "EncCfg.h", "  bool      m_bUsePerceptQPA;",
     "  std::string m_ctuQpMapFile;   // vcm\n  bool      m_bUsePerceptQPA;"),
    (_ENC + "EncCfg.h", "  void      setUsePerceptQPA ",
     "  void      setCtuQpMapFile( const std::string &s ) { m_ctuQpMapFile = s; }\n"
     "  const std::string &getCtuQpMapFile() const { return m_ctuQpMapFile; }\n  void      setUsePerceptQPA "),
    # CU delta QPs enabled in the PPS (both PPS set-ups)
    (_ENC + "EncLib.cpp", "#if ENABLE_QPA\n  if (getUsePerceptQPA() && !useDeltaQp)",
     "  if (!getCtuQpMapFile().empty())\n  {\n    useDeltaQp = true;   // vcm: CTU QPs from the map\n  }\n"
     "#if ENABLE_QPA\n  if (getUsePerceptQPA() && !useDeltaQp)", 2),
    # each CTU at slice QP + delta with its lambda, as PerceptQPA's CTU path; the slice lambdas restored after
    (_ENC + "EncSlice.cpp", '#include "EncLib.h"\n', '#include "EncLib.h"\n#include "CommonLib/VcmCtuQp.h"\n'),
    (_ENC + "EncSlice.cpp",
     "    if (m_pcCfg->getDPF() && m_pcLib->getEncType() == ENC_FULL && !pcPic->slices[0]->isIntra())\n"
     "    {\n      setCTULambdaQpByWeight(",
     "    double     vcmLambdas[MAX_NUM_COMPONENT] = { 0.0 };\n"
     "    const bool vcmMap = !pCfg->getCtuQpMapFile().empty();\n"
     "    if (vcmMap)   // vcm: the CTU's QP from the map\n"
     "    {\n"
     "      const int vcmQP = Clip3(-pcSlice->getSPS()->getQpBDOffset(ChannelType::LUMA), MAX_QP,\n"
     "                              pcSlice->getSliceQp() + vcm::ctuQpDelta(pCfg->getCtuQpMapFile(), pcSlice->getPOC(),\n"
     "                                                                      ctuRsAddr, cs.pcv->widthInCtus, cs.pcv->heightInCtus));\n"
     "      const double vcmLambda = pcSlice->getLambdas()[0] * pow(2.0, double(vcmQP - pcSlice->getSliceQp()) / 3.0);\n"
     "      pTrQuant->getLambdas(vcmLambdas);\n"
     "      const double lambdaArray[MAX_NUM_COMPONENT] = { vcmLambda / m_pcRdCost->getDistortionWeight(COMPONENT_Y),\n"
     "                                                      vcmLambda / m_pcRdCost->getDistortionWeight(COMPONENT_Cb),\n"
     "                                                      vcmLambda / m_pcRdCost->getDistortionWeight(COMPONENT_Cr) };\n"
     "      pTrQuant->setLambdas(lambdaArray);\n"
     "      pRdCost->setLambda(vcmLambda, pcSlice->getSPS()->getBitDepths());\n"
     "      pcPic->m_uEnerHpCtu[ctuRsAddr] = vcmLambda;   // the CTU's lambda for SAO and ALF, as PerceptQPA\n"
     "      currQP.fill(vcmQP);\n"
     "    }\n"
     "    if (m_pcCfg->getDPF() && m_pcLib->getEncType() == ENC_FULL && !pcPic->slices[0]->isIntra())\n"
     "    {\n      setCTULambdaQpByWeight("),
    (_ENC + "EncSlice.cpp", "    pCABACWriter->resetBits();\n",
     "    if (vcmMap)\n    {\n      pTrQuant->setLambdas(vcmLambdas);\n"
     "      pRdCost->setLambda(oldLambda, pcSlice->getSPS()->getBitDepths());\n    }\n    pCABACWriter->resetBits();\n"),
    # SAO and ALF decide each CTU with its own lambda (PerceptQPA's per-CTU lambdas)
    (_ENC + "EncGOP.cpp", "(m_pcCfg->getUsePerceptQPA() && !m_pcCfg->getUseRateCtrl() && pcSlice->getPPS()->getUseDQP() ?",
     "((m_pcCfg->getUsePerceptQPA() || !m_pcCfg->getCtuQpMapFile().empty()) && !m_pcCfg->getUseRateCtrl() "
     "&& pcSlice->getPPS()->getUseDQP() ?"),
    (_ENC + "EncGOP.cpp", "(m_pcCfg->getUsePerceptQPA() && !m_pcCfg->getUseRateCtrl() && pcSlice->getPPS()->getUseDQP()\n"
     "                               ? m_pcEncLib->getRdCost()->getChromaWeight()",
     "((m_pcCfg->getUsePerceptQPA() || !m_pcCfg->getCtuQpMapFile().empty()) && !m_pcCfg->getUseRateCtrl() "
     "&& pcSlice->getPPS()->getUseDQP()\n"
     "                               ? m_pcEncLib->getRdCost()->getChromaWeight()"),
    # the QPs as written
    (_ENC + "EncSlice.cpp", "    m_CABACWriter->coding_tree_unit( cs, ctuArea, pcPic->m_prevQP, ctuRsAddr );\n",
     "    m_CABACWriter->coding_tree_unit( cs, ctuArea, pcPic->m_prevQP, ctuRsAddr );\n"
     "    if (!m_pcCfg->getCtuQpMapFile().empty())\n    {\n"
     '      msg(NOTICE, "vcm-ctu-qp POC %d CTU %u QP %s\\n", pcSlice->getPOC(), ctuRsAddr, vcm::ctuQpText(cs, ctuArea).c_str());\n'
     "    }\n"),
    # ... and as decoded
    ("source/Lib/DecoderLib/DecSlice.cpp", '#include "DecSlice.h"\n', '#include "DecSlice.h"\n#include "CommonLib/VcmCtuQp.h"\n'),
    ("source/Lib/DecoderLib/DecSlice.cpp", "    m_pcCuDecoder->decompressCtu( cs, ctuArea );\n",
     "    m_pcCuDecoder->decompressCtu( cs, ctuArea );\n"
     "    if (vcm::decoderLogsCtuQps())\n    {\n"
     '      msg(NOTICE, "vcm-ctu-qp POC %d CTU %u QP %s\\n", slice->getPOC(), ctuRsAddr, vcm::ctuQpText(cs, ctuArea).c_str());\n'
     "    }\n"),
]


def find_source(explicit: str | None = None) -> Path | None:
    """The VTM source: --source, $VCM_VTM_SOURCE, or shared/vtm beside a parent folder."""
    return shared_source("vtm", explicit, "VCM_VTM_SOURCE",
                         ("CMakeLists.txt", "source/App/EncoderApp/encmain.cpp", "source/Lib/EncoderLib/EncSlice.cpp"))


def program_paths(root: Path | None = None) -> list[Path]:
    """Where EncoderApp and DecoderApp live once built (whether or not they have been)."""
    return [(root or cache_root("vtm")) / "bin" / p for p in PROGRAMS]


def build(src: Path, root: Path | None = None, jobs: int | None = None, quiet: bool = True) -> list[Path]:
    """Build (or reuse) EncoderApp and DecoderApp from `src`; returns their paths."""
    inputs = [src / "CMakeLists.txt"] + sorted(p for d in ("source", "cmake") for p in (src / d).rglob("*") if p.is_file())
    want = {"source_digest": source_digest(src, inputs), "programs": list(PROGRAMS), "build_type": "Release",
            "patches": patches_digest(PATCHES)}
    products = program_paths(root)

    def make(tmp: Path) -> list[Path]:
        work = tmp / "vtm"
        copy_source(src, work, ignore=("build", "bin", "lib", ".git", "doc", "cfg"))
        apply_patches(work, PATCHES, "build_vtm")
        cfg = ["cmake", "-S", str(work), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release"]
        run_steps([cfg, ["cmake", "--build", str(work / "build"), "-j", str(jobs or os.cpu_count() or 2),
                         "--target", *PROGRAMS]], "build_vtm", quiet)
        return [work / "bin" / f"{p}Static" for p in PROGRAMS]  # VTM's CMake copies each app to bin/<App>Static

    build_once(products[0].parent.parent, want, products, make)
    return products


def main(argv: list[str] | None = None) -> int:
    a, src = parse_args(argv, __doc__, "vtm", "https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM.git", find_source)
    if src is None:
        return 2
    enc, _ = build(src, a.cache_dir, a.jobs, quiet=not a.verbose)
    print(enc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
