// Dropout's forward: the drop rate, the scale of the kept elements, and when it is the identity.
// Agreement with PyTorch given the same mask is in test_gan_reference.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "minimax.h"

using namespace minimax;

// The number of dropped elements of n is Binomial(n, p) when each is dropped independently with
// probability p. |count - np| <= 6 sd fails a correct dropout with probability below 2e-9 (normal
// approximation, good at n = 10^6), whatever the seed; at n = 10^6 the band is 0.24% (p = 0.2) to
// 0.3% (p = 0.5) of n, so keeping with probability p instead of 1 - p, or a rate off by 1%, fails.
TEST_CASE("dropout: drops each element with probability p") {
  const int64_t n = 1000000;
  Generator gen(5);
  for (float p : {0.1f, 0.2f, 0.5f, 0.9f}) {
    CAPTURE(p);
    std::vector<float> y = dropout(Tensor::ones({1000, 1000}), p, true, gen).to_vector();
    int64_t dropped = 0;
    for (float v : y) dropped += v == 0.0f;
    const double mean = n * double(p), sd = std::sqrt(n * double(p) * (1 - p));
    CHECK(std::abs(dropped - mean) <= 6 * sd);
    // And independently over the tensor: each half has its share (the same 6 sd band).
    int64_t first_half = 0;
    for (int64_t i = 0; i < n / 2; ++i) first_half += y[i] == 0.0f;
    CHECK(std::abs(first_half - mean / 2) <= 6 * sd / std::sqrt(2.0));
  }
}

TEST_CASE("dropout: kept elements are scaled by 1 / (1 - p), so the mean is kept") {
  Generator gen(6);
  Tensor x = Tensor::uniform({400, 250}, -2.0f, 2.0f, gen);
  const std::vector<float> xs = x.to_vector();
  for (float p : {0.2f, 0.5f, 0.75f}) {
    CAPTURE(p);
    const float scale = 1.0f / (1.0f - p);
    CHECK(scale == doctest::Approx(1.0 / (1.0 - double(p))).epsilon(2e-7));
    std::vector<float> y = dropout(x, p, true, gen).to_vector();
    int64_t other = 0;
    for (size_t i = 0; i < y.size(); ++i) other += !(y[i] == 0.0f || y[i] == xs[i] * scale);
    CHECK(other == 0);
  }
  // E[y] = x: the mean of dropout(ones) over 10^6 elements is 1 within 6 sd of the mean of
  // Bernoulli(1 - p) / (1 - p) draws, sqrt(p / (1 - p) / n).
  const float p = 0.5f;
  std::vector<float> y = dropout(Tensor::ones({1000, 1000}), p, true, gen).to_vector();
  double sum = 0.0;
  for (float v : y) sum += v;
  CHECK(std::abs(sum / y.size() - 1.0) <= 6 * std::sqrt(p / (1 - p) / y.size()));
}

TEST_CASE("dropout: the identity in eval mode and for p = 0, drawing nothing") {
  Generator gen(7);
  Tensor x = Tensor::uniform({8, 16}, -1.0f, 1.0f, gen).requires_grad_();
  const Generator::State before = gen.state();
  for (auto [p, training] : {std::pair{0.5f, false}, {0.0f, true}, {0.0f, false}}) {
    Tensor y = dropout(x, p, training, gen);
    CHECK(y.to_vector() == x.to_vector());
    CHECK(gen.state() == before);  // no draw: eval mode leaves the random stream alone
    Tensor g = grad({sum(y)}, {x})[0];
    CHECK(g.to_vector() == std::vector<float>(x.numel(), 1.0f));
  }
  // The module follows train() / eval().
  nn::Dropout layer(0.5f, &gen);
  layer.eval();
  CHECK(layer(x).to_vector() == x.to_vector());
  layer.train();
  CHECK(layer(x).to_vector() != x.to_vector());
}

// As in PyTorch, no-grad does not turn dropout off (that is eval mode's job): a training forward
// under no-grad still drops, and records nothing.
TEST_CASE("dropout: still drops under no-grad in training mode, recording nothing") {
  Generator gen(8);
  Tensor x = Tensor::ones({100, 100}).requires_grad_();
  NoGradGuard no_grad;
  Tensor y = dropout(x, 0.5f, true, gen);
  CHECK_FALSE(y.requires_grad());
  std::vector<float> v = y.to_vector();
  int64_t zeros = 0;
  for (float e : v) zeros += e == 0.0f;
  CHECK(zeros > 0);
  CHECK(zeros < static_cast<int64_t>(v.size()));
}

TEST_CASE("dropout: the same seed gives the same mask; the next draw another") {
  Tensor x = Tensor::ones({64, 64});
  Generator a(9), b(9);
  std::vector<float> first = dropout(x, 0.5f, true, a).to_vector();
  CHECK(first == dropout(x, 0.5f, true, b).to_vector());
  CHECK(first != dropout(x, 0.5f, true, a).to_vector());
}

// Neighbours come from consecutive counters of one stream: a weak mix would correlate them. Both
// of a pair are dropped with probability p^2 when independent; over 10^6 disjoint pairs the count
// stays within 6 sd of that (sd = sqrt(n p^2 (1 - p^2))), which a mask copying its neighbour
// (probability p) or never dropping both (0) misses by far.
TEST_CASE("dropout: neighbouring elements are dropped independently") {
  const int64_t pairs = 1000000;
  const float p = 0.5f;
  Generator gen(11);
  std::vector<float> y = dropout(Tensor::ones({pairs, 2}), p, true, gen).to_vector();
  int64_t both = 0;
  for (int64_t i = 0; i < pairs; ++i) both += y[2 * i] == 0.0f && y[2 * i + 1] == 0.0f;
  const double q = double(p) * p, mean = pairs * q, sd = std::sqrt(pairs * q * (1 - q));
  CHECK(std::abs(both - mean) <= 6 * sd);
}

TEST_CASE("dropout: the mask is the same on one thread and on several") {
  // Both above the size where the mask is made in parallel: an odd size, whose shares end inside
  // a vector, and a larger one.
  for (const Shape& shape : {Shape{99, 785}, Shape{256, 1024}}) {
    CAPTURE(shape.str());
    Tensor x = Tensor::ones(shape);
    auto mask_at = [&](int threads) {
      const ScopedThreads count(threads);
      Generator gen(13);
      return dropout(x, 0.3f, true, gen).to_vector();
    };
    CHECK(mask_at(1) == mask_at(2));
  }
}

// Element i is kept exactly when draw i of the stream keyed by one draw from the generator reaches
// p. The lengths cover the vector loop's tails (1, 7, 17 elements), the paper MLP's hidden layer,
// and each side of the parallel size (32,767 / 32,769); the recording and the no-grad kernels each
// run. A vector clone whose hash differed from the scalar one would fail here.
TEST_CASE("dropout: element i is kept exactly when its keyed draw reaches p") {
  const float p = 0.3f;
  for (int64_t n : {1, 7, 17, 24000, 32767, 32769}) {
    for (bool recording : {false, true}) {
      CAPTURE(n);
      CAPTURE(recording);
      Tensor x = Tensor::ones({n});
      if (recording) x.requires_grad_();
      Generator gen(21), twin(21);
      const uint64_t key = twin.next_u64();
      const std::vector<float> y = dropout(x, p, true, gen).to_vector();
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i) wrong += (y[i] != 0.0f) != (keyed_uniform(key, i) >= p);
      CHECK(wrong == 0);
    }
  }
}
