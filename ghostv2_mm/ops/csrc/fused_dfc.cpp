// DFC attention of GhostNetV2 in deploy mode as one CPU call: pooling, 1x1 conv, horizontal and
// vertical FCs, scaling function and the gating multiply on channels-last float32 tensors.
// On small maps the PyTorch version of this branch is a chain of short calls whose fixed cost
// outweighs their arithmetic. Here the 1x1 conv is one BLAS matrix product, the scaling function
// ATen's vectorised kernel, and the other passes loops over contiguous channels on ATen's threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

// The loops are compiled twice, for x86-64-v3 (AVX2, FMA) and the baseline, and the loader picks
// the one the CPU runs; the package stays portable without -march flags.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DFC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DFC_CLONES
#endif

namespace {

enum Gate : int64_t { kSigmoid = 0, kHardSigmoid = 1, kClip = 2 };
enum Pool : int64_t { kAvg = 0, kMax = 1 };

// Tasks of at least this many multiply-adds; smaller work runs on the calling thread.
constexpr int64_t kMinWorkPerTask = 32768;

int64_t grain(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(1, work_per_item));
}

// PyTorch's nearest up-sampling to an explicit size: floor(dst * in / out), in float.
inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out) {
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<int64_t>(std::floor(dst * scale)), in - 1);
}

struct Shape {
  int64_t N, Cin, H, W, C, FH, FW, py, px, h, w;
};

// 2x2 (stride 2, floor) average or max pooling of image rows [begin, end) of the pooled map.
DFC_CLONES void pool_rows(const float* __restrict__ x, float* __restrict__ pooled, const Shape& s,
                          int64_t pool, int64_t begin, int64_t end) {
  const int64_t Cin = s.Cin;
  const float scale = 1.f / static_cast<float>(s.py * s.px);
  for (int64_t r = begin; r < end; ++r) {
    const int64_t n = r / s.h, i = r % s.h;
    for (int64_t j = 0; j < s.w; ++j) {
      float* __restrict__ out = pooled + (r * s.w + j) * Cin;
      const float* __restrict__ first = x + ((n * s.H + i * s.py) * s.W + j * s.px) * Cin;
      for (int64_t c = 0; c < Cin; ++c) out[c] = first[c];
      for (int64_t dy = 0; dy < s.py; ++dy)
        for (int64_t dx = 0; dx < s.px; ++dx) {
          if (dy == 0 && dx == 0) continue;
          const float* __restrict__ src = first + (dy * s.W + dx) * Cin;
          if (pool == kMax)
            for (int64_t c = 0; c < Cin; ++c) out[c] = std::max(out[c], src[c]);
          else
            for (int64_t c = 0; c < Cin; ++c) out[c] += src[c];
        }
      if (pool == kAvg)
        for (int64_t c = 0; c < Cin; ++c) out[c] *= scale;
    }
  }
}

// One zero-padded depthwise FC of length k along a line (pixels `step` floats apart), for the
// pixel at position `pos` of a line of length `len`.
DFC_CLONES void fc_pixel(const float* __restrict__ in, float* __restrict__ out,
                         const float* __restrict__ weight, const float* __restrict__ bias,
                         int64_t k, int64_t dilation, int64_t pos, int64_t len, int64_t step,
                         int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = bias[c];
  for (int64_t t = 0; t < k; ++t) {
    const int64_t offset = dilation * (t - k / 2);
    if (pos + offset < 0 || pos + offset >= len) continue;
    const float* __restrict__ src = in + offset * step;
    const float* __restrict__ wt = weight + t * C;
    for (int64_t c = 0; c < C; ++c) out[c] += wt[c] * src[c];
  }
}

// feats times the gate, nearest up-sampled, for full-size rows [begin, end). `out` may be `feats`.
DFC_CLONES void multiply_rows(const float* feats, const float* __restrict__ gates, float* out,
                              const Shape& s, int64_t begin, int64_t end) {
  const int64_t C = s.C;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t n = r / s.FH, i = nearest_source(r % s.FH, s.h, s.FH);
    for (int64_t J = 0; J < s.FW; ++J) {
      const float* __restrict__ g = gates + ((n * s.h + i) * s.w + nearest_source(J, s.w, s.FW)) * C;
      const float* f = feats + (r * s.FW + J) * C;
      float* o = out + (r * s.FW + J) * C;
      for (int64_t c = 0; c < C; ++c) o[c] = f[c] * g[c];
    }
  }
}

}  // namespace

// x: (N, Cin, H, W) input of the attention; feats: (N, C, FH, FW) features it gates; both
// channels-last float32. The BN-folded deploy weights come transposed so that channels are
// contiguous: conv_weight (Cin, C), hfc_weight (kh, C), vfc_weight (kv, C); biases (C).
torch::Tensor fused_dfc(const torch::Tensor& x, const torch::Tensor& feats,
                        const torch::Tensor& conv_weight, const torch::Tensor& conv_bias,
                        const torch::Tensor& hfc_weight, const torch::Tensor& hfc_bias,
                        const torch::Tensor& vfc_weight, const torch::Tensor& vfc_bias,
                        int64_t dilation, int64_t pool, int64_t gate, bool inplace) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  TORCH_CHECK(x.dim() == 4 && feats.dim() == 4, "fused_dfc: x and feats must be 4-D");
  TORCH_CHECK(x.is_contiguous(cl) && feats.is_contiguous(cl),
              "fused_dfc: x and feats must be channels-last contiguous");
  TORCH_CHECK(x.scalar_type() == at::kFloat && feats.scalar_type() == at::kFloat,
              "fused_dfc: x and feats must be float32");
  TORCH_CHECK(x.device().is_cpu() && feats.device().is_cpu(), "fused_dfc: CPU tensors only");
  Shape s;
  s.N = x.size(0), s.Cin = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.C = feats.size(1), s.FH = feats.size(2), s.FW = feats.size(3);
  const int64_t N = s.N, Cin = s.Cin, C = s.C;
  TORCH_CHECK(feats.size(0) == N && conv_weight.dim() == 2 && conv_weight.size(0) == Cin &&
                  conv_weight.size(1) == C,
              "fused_dfc: conv_weight must be (Cin, C) for x (N, Cin, H, W), feats (N, C, H', W')");
  for (const auto* t : {&conv_weight, &conv_bias, &hfc_weight, &hfc_bias, &vfc_weight, &vfc_bias})
    TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous() && t->device().is_cpu(),
                "fused_dfc: weights must be contiguous float32 CPU tensors");
  TORCH_CHECK(hfc_weight.dim() == 2 && hfc_weight.size(1) == C && vfc_weight.dim() == 2 &&
                  vfc_weight.size(1) == C && conv_bias.numel() == C && hfc_bias.numel() == C &&
                  vfc_bias.numel() == C,
              "fused_dfc: FC weights must be (k, C) and biases (C)");
  TORCH_CHECK(dilation >= 1 && (pool == kAvg || pool == kMax) &&
                  (gate == kSigmoid || gate == kHardSigmoid || gate == kClip),
              "fused_dfc: bad dilation, pool or gate code");
  const int64_t kh = hfc_weight.size(0), kv = vfc_weight.size(0);
  // 2x2 pooling with stride 2 (floor), a side of length 1 kept.
  s.py = s.H >= 2 ? 2 : 1, s.px = s.W >= 2 ? 2 : 1;
  s.h = s.H / s.py, s.w = s.W / s.px;
  const int64_t h = s.h, w = s.w, pixels = N * h * w;

  auto pooled = at::empty({pixels, Cin}, x.options());
  const float* xp = x.data_ptr<float>();
  float* pp = pooled.data_ptr<float>();
  at::parallel_for(0, N * h, grain(w * Cin * s.py * s.px), [&](int64_t begin, int64_t end) {
    pool_rows(xp, pp, s, pool, begin, end);
  });

  // The 1x1 conv as one matrix product, (N*h*w, Cin) x (Cin, C): channels-last in and out.
  const auto projected = at::addmm(conv_bias, pooled, conv_weight);
  const float* yp = projected.data_ptr<float>();

  auto horizontal = at::empty_like(projected);
  auto gates = at::empty_like(projected);
  float* tp = horizontal.data_ptr<float>();
  float* gp = gates.data_ptr<float>();
  const float* hw = hfc_weight.data_ptr<float>();
  const float* hb = hfc_bias.data_ptr<float>();
  const float* vw = vfc_weight.data_ptr<float>();
  const float* vb = vfc_bias.data_ptr<float>();
  at::parallel_for(0, pixels, grain(C * kh), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p)
      fc_pixel(yp + p * C, tp + p * C, hw, hb, kh, dilation, p % w, w, C, C);
  });
  at::parallel_for(0, pixels, grain(C * kv), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p)
      fc_pixel(tp + p * C, gp + p * C, vw, vb, kv, dilation, p / w % h, h, w * C, C);
  });

  if (gate == kSigmoid)
    gates.sigmoid_();
  else if (gate == kHardSigmoid)
    at::hardsigmoid_(gates);
  else
    gates.clamp_(0., 1.);

  auto out = inplace ? feats : at::empty_like(feats, cl);
  const float* fp = feats.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, N * s.FH, grain(s.FW * C), [&](int64_t begin, int64_t end) {
    multiply_rows(fp, gp, op, s, begin, end);
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fused_dfc", &fused_dfc, "GhostNetV2 DFC attention, deploy mode, one CPU call");
}
