// A program against an installed minimax, as a downstream user writes it: one include, a gradient
// through the tape, and a few steps of the library's GAN trainer on a 2-D mixture. Exits 0 when
// the gradient is right and training ran with finite losses.
#include <minimax/minimax.h>

#include <cmath>
#include <cstdio>

using namespace minimax;

int main() {
  set_flush_denormals(false);  // IEEE's default; the runtime helpers are installed with the ops
  Tensor x = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
  sum(square(x)).backward();
  auto g = x.grad().to_vector();
  bool grad_ok = g[0] == 2.0f && g[1] == 4.0f;

  manual_seed(1);
  gan::GanModel model = gan::mixture_mlp(2, 32, 2);
  optim::Adam g_opt(model.generator->parameters(), optim::AdamOptions(1e-3));
  optim::Adam d_opt(model.discriminator->parameters(), optim::AdamOptions(1e-3));
  data::GaussianMixture ring = data::GaussianMixture::ring8();
  Generator gen(2);
  gan::Trainer trainer([&](const Tensor& z) { return model.generator->forward(z); },
                       [&](const Tensor& v) { return model.discriminator->forward(v); }, g_opt,
                       d_opt, model.prior, [&](int64_t n) { return ring.sample(n, gen); }, gen,
                       {.batch = 32, .loss = gan::hinge_loss()});
  gan::StepStats s;
  for (int i = 0; i < 5; ++i) s = trainer.step();
  bool train_ok = s.step == 5 && std::isfinite(s.d_loss) && std::isfinite(s.g_loss);
  std::printf("consumer: grad = (%g, %g): %s; 5 GAN steps, D loss %.3f: %s\n", g[0], g[1],
              grad_ok ? "ok" : "WRONG", s.d_loss, train_ok ? "ok" : "WRONG");
  return grad_ok && train_ok ? 0 : 1;
}
