// Run-time loading of cuBLASLt; see cublaslt.h for why and where it looks.
#include "cublaslt.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "cuda_check.h"

namespace zoo::cuda {
namespace {

// This module's own directory, from the address of a function inside it.
std::string own_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&own_dir), &info) == 0 || !info.dli_fname) return "";
  std::string p = info.dli_fname;
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

struct Loaded {
  CublasLt lt;
  std::string error;  // empty when loaded
};

Loaded load() {
  Loaded out;
  const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("ZOO_CUBLASLT"); env && *env) candidates.push_back(env);
  candidates.push_back(soname);
  const std::string dir = own_dir();
  if (!dir.empty())  // site-packages/zoo/_C.so -> site-packages/nvidia/cu13/lib/
    candidates.push_back(dir + "/../nvidia/cu" + std::to_string(CUBLAS_VER_MAJOR) + "/lib/" +
                         soname);
  void* h = nullptr;
  std::string tried;
  for (const auto& c : candidates) {
    // RTLD_LOCAL: our symbols stay private even if another copy is loaded.
    h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      out.lt.path = c;
      break;
    }
    const char* e = dlerror();
    tried += "\n  " + c + ": " + (e ? e : "not found");
  }
  if (!h) {
    out.error = "cuBLASLt " + std::to_string(CUBLAS_VER_MAJOR) +
                " could not be loaded (the fused dense kernels need it; `pip install "
                "nvidia-cublas` or install the CUDA toolkit, or point ZOO_CUBLASLT at " +
                soname + "). Tried:" + tried;
    return out;
  }
  bool ok = true;
#define ZOO_LT_SYM(name)                                                   \
  out.lt.name = reinterpret_cast<decltype(out.lt.name)>(dlsym(h, #name)); \
  if (!out.lt.name) {                                                      \
    ok = false;                                                            \
    out.error += std::string(" ") + #name;                                 \
  }
  ZOO_LT_SYM(cublasLtCreate)
  ZOO_LT_SYM(cublasLtGetVersion)
  ZOO_LT_SYM(cublasLtGetStatusName)
  ZOO_LT_SYM(cublasLtGetStatusString)
  ZOO_LT_SYM(cublasLtMatmulDescCreate)
  ZOO_LT_SYM(cublasLtMatmulDescDestroy)
  ZOO_LT_SYM(cublasLtMatmulDescSetAttribute)
  ZOO_LT_SYM(cublasLtMatrixLayoutCreate)
  ZOO_LT_SYM(cublasLtMatrixLayoutDestroy)
  ZOO_LT_SYM(cublasLtMatmulPreferenceCreate)
  ZOO_LT_SYM(cublasLtMatmulPreferenceDestroy)
  ZOO_LT_SYM(cublasLtMatmulPreferenceSetAttribute)
  ZOO_LT_SYM(cublasLtMatmulAlgoGetHeuristic)
  ZOO_LT_SYM(cublasLtMatmul)
#undef ZOO_LT_SYM
  if (!ok) {
    out.error = out.lt.path + " lacks the symbols" + out.error;
    dlclose(h);
    out.lt = CublasLt{};
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded l = load();  // thread-safe, once
  return l;
}

}  // namespace

const CublasLt& cublaslt() {
  const Loaded& l = loaded();
  if (!l.error.empty()) throw CudaError(l.error);
  return l.lt;
}

std::string cublaslt_probe(std::string* why) {
  const Loaded& l = loaded();
  if (why) *why = l.error;
  return l.error.empty() ? l.lt.path : "";
}

cublasLtHandle_t cublaslt_handle() {
  static std::mutex mu;
  static std::vector<cublasLtHandle_t> handles;  // by device ordinal
  int dev = 0;
  ZOO_CUDA_CHECK(cudaGetDevice(&dev));
  const CublasLt& lt = cublaslt();
  std::lock_guard<std::mutex> lock(mu);
  if (handles.size() <= static_cast<size_t>(dev)) handles.resize(dev + 1, nullptr);
  if (!handles[dev]) ZOO_CUBLAS_CHECK(lt.cublasLtCreate(&handles[dev]));
  return handles[dev];
}

}  // namespace zoo::cuda
