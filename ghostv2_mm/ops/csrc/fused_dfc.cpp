// DFC attention of GhostNetV2 in deploy mode as one CPU call: pooling, 1x1 conv, horizontal and
// vertical FCs, scaling function and the gating multiply on channels-last float32 tensors.
// On small maps the PyTorch version of this branch is a chain of short calls whose fixed cost
// outweighs their arithmetic; here ATen is called twice, for the 1x1 conv's matrix product and the
// vectorised scaling function, and the rest are loops over contiguous channels.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace {

enum Gate : int64_t { kSigmoid = 0, kHardSigmoid = 1, kClip = 2 };
enum Pool : int64_t { kAvg = 0, kMax = 1 };

// Rows of at least this many multiply-adds per thread; smaller work runs on the calling thread.
constexpr int64_t kMinWorkPerTask = 32768;

int64_t grain(int64_t work_per_row) {
  return std::max<int64_t>(1, kMinWorkPerTask / std::max<int64_t>(1, work_per_row));
}

// PyTorch's nearest up-sampling to an explicit size: floor(dst * in / out), in float.
inline int64_t nearest_source(int64_t dst, int64_t in, int64_t out) {
  if (out == 2 * in) return dst >> 1;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<int64_t>(std::floor(dst * scale)), in - 1);
}

// One depthwise FC along rows (step = w * C between taps) or along a row (step = C), zero padded,
// for the pixel at position `pos` of a line of length `len`.
inline void fc_pixel(const float* __restrict__ in, float* __restrict__ out,
                     const float* __restrict__ weight, const float* __restrict__ bias, int64_t k,
                     int64_t dilation, int64_t pos, int64_t len, int64_t step, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] = bias[c];
  for (int64_t t = 0; t < k; ++t) {
    const int64_t offset = dilation * (t - k / 2);
    if (pos + offset < 0 || pos + offset >= len) continue;
    const float* __restrict__ src = in + offset * step;
    const float* __restrict__ wt = weight + t * C;
    for (int64_t c = 0; c < C; ++c) out[c] += wt[c] * src[c];
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
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t C = feats.size(1), FH = feats.size(2), FW = feats.size(3);
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
  const int64_t py = H >= 2 ? 2 : 1, px = W >= 2 ? 2 : 1;
  const int64_t h = H / py, w = W / px;

  auto pooled = at::empty({N * h * w, Cin}, x.options());
  const float* __restrict__ xp = x.data_ptr<float>();
  float* __restrict__ pp = pooled.data_ptr<float>();
  const float scale = 1.f / static_cast<float>(py * px);
  at::parallel_for(0, N * h, grain(w * Cin * py * px), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / h, i = r % h;
      for (int64_t j = 0; j < w; ++j) {
        float* __restrict__ out = pp + (r * w + j) * Cin;
        const float* __restrict__ first = xp + ((n * H + i * py) * W + j * px) * Cin;
        for (int64_t c = 0; c < Cin; ++c) out[c] = first[c];
        for (int64_t dy = 0; dy < py; ++dy)
          for (int64_t dx = 0; dx < px; ++dx) {
            if (dy == 0 && dx == 0) continue;
            const float* __restrict__ src = first + (dy * W + dx) * Cin;
            if (pool == kMax)
              for (int64_t c = 0; c < Cin; ++c) out[c] = std::max(out[c], src[c]);
            else
              for (int64_t c = 0; c < Cin; ++c) out[c] += src[c];
          }
        if (pool == kAvg)
          for (int64_t c = 0; c < Cin; ++c) out[c] *= scale;
      }
    }
  });

  // The 1x1 conv: (N*h*w, Cin) x (Cin, C), channels-last in and out.
  const auto projected = at::addmm(conv_bias, pooled, conv_weight);
    auto horizontal = at::empty_like(projected);
  auto gates = at::empty_like(projected);
  const float* __restrict__ yp = projected.data_ptr<float>();
  float* __restrict__ tp = horizontal.data_ptr<float>();
  float* __restrict__ gp = gates.data_ptr<float>();
  const float* hw = hfc_weight.data_ptr<float>();
  const float* hb = hfc_bias.data_ptr<float>();
  const float* vw = vfc_weight.data_ptr<float>();
  const float* vb = vfc_bias.data_ptr<float>();
  at::parallel_for(0, N * h, grain(w * C * kh), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t p = (r * w + j) * C;
        fc_pixel(yp + p, tp + p, hw, hb, kh, dilation, j, w, C, C);
      }
  });
  at::parallel_for(0, N * h, grain(w * C * kv), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t p = (r * w + j) * C;
        fc_pixel(tp + p, gp + p, vw, vb, kv, dilation, r % h, h, w * C, C);
      }
  });

  // ATen's own vectorised kernels for the scaling function (one call on the small map).
  if (gate == kSigmoid)
    gates.sigmoid_();
  else if (gate == kHardSigmoid)
    at::hardsigmoid_(gates);
  else
    gates.clamp_(0., 1.);

  auto out = inplace ? feats : at::empty_like(feats, cl);
  const float* fp = feats.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, N * FH, grain(FW * C), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / FH, i = nearest_source(r % FH, h, FH);
      for (int64_t J = 0; J < FW; ++J) {
        const float* __restrict__ g = gp + ((n * h + i) * w + nearest_source(J, w, FW)) * C;
        const float* f = fp + (r * FW + J) * C;  // may be o (inplace)
        float* o = op + (r * FW + J) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = f[c] * g[c];
      }
    }
  });
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fused_dfc", &fused_dfc, "GhostNetV2 DFC attention, deploy mode, one CPU call");
}
