// minimax against PyTorch: values, gradients and second-order gradients of every op, read from the
// committed fixture tests/data/torch_reference.json (see tests/torch_reference.h). One TEST_CASE
// per op family. conv2d, conv_transpose2d, batch_norm and the pools are checked in
// test_torch_reference_nn.cpp.
#include "torch_reference.h"

using namespace minimax;
using namespace minimax::torch_reference;

namespace {

float f(const json& c, const char* key) {
  return options(c).at(key).get<float>();
}
bool flag(const json& c, const char* key) {
  return options(c).at(key).get<bool>();
}

// sum, mean and max: over everything when the case names no dims.
template <Tensor (*All)(const Tensor&), Tensor (*Some)(const Tensor&, const Dims&, bool)>
Tensor reduce(const TensorList& x, const json& c) {
  const json& o = options(c);
  if (!o.contains("dims")) return All(x[0]);
  return Some(x[0], dims_of(o, "dims"), o.at("keepdim").get<bool>());
}

}  // namespace

TEST_CASE("torch: fixture") {
  const Fixture& fx = fixture();
  REQUIRE_MESSAGE(fx.error.empty(), fx.error);
  MESSAGE("reference from PyTorch ", fx.doc.value("torch_version", std::string("?")), ": ",
          fx.cases().size(), " cases");
  std::set<std::string> names;
  for (const json& c : fx.cases()) {
    std::string name = c.at("name").get<std::string>();
    CHECK_MESSAGE(names.insert(name).second, "duplicate case ", name);
    CHECK_MESSAGE(known_families().count(c.at("family").get<std::string>()) == 1, name,
                  ": family '", c.at("family").get<std::string>(), "' has no TEST_CASE");
  }
}

TEST_CASE("torch: elementwise") {
  check_family(
      "elementwise",
      {
          {"add", [](const TensorList& x, const json&) { return add(x[0], x[1]); }},
          {"sub", [](const TensorList& x, const json&) { return sub(x[0], x[1]); }},
          {"mul", [](const TensorList& x, const json&) { return mul(x[0], x[1]); }},
          {"div", [](const TensorList& x, const json&) { return div(x[0], x[1]); }},
          {"add_scalar",
           [](const TensorList& x, const json& c) { return add(x[0], f(c, "scalar")); }},
          {"mul_scalar",
           [](const TensorList& x, const json& c) { return mul(x[0], f(c, "scalar")); }},
          {"rsub", [](const TensorList& x, const json& c) { return rsub(f(c, "scalar"), x[0]); }},
          {"sub_scalar", [](const TensorList& x, const json& c) { return x[0] - f(c, "scalar"); }},
          {"div_scalar", [](const TensorList& x, const json& c) { return x[0] / f(c, "scalar"); }},
          {"neg", [](const TensorList& x, const json&) { return neg(x[0]); }},
          {"exp", [](const TensorList& x, const json&) { return exp(x[0]); }},
          {"log", [](const TensorList& x, const json&) { return log(x[0]); }},
          {"sqrt", [](const TensorList& x, const json&) { return sqrt(x[0]); }},
          {"pow", [](const TensorList& x, const json& c) { return pow(x[0], f(c, "exponent")); }},
          {"square", [](const TensorList& x, const json&) { return square(x[0]); }},
          {"abs", [](const TensorList& x, const json&) { return abs(x[0]); }},
          {"clamp", [](const TensorList& x,
                       const json& c) { return clamp(x[0], f(c, "low"), f(c, "high")); }},
          {"gt", [](const TensorList& x, const json&) { return gt(x[0], x[1]); }},
          {"eq", [](const TensorList& x, const json&) { return eq(x[0], x[1]); }},
      });
}

TEST_CASE("torch: activations") {
  check_family(
      "activations",
      {
          {"relu", [](const TensorList& x, const json&) { return relu(x[0]); }},
          {"leaky_relu",
           [](const TensorList& x, const json& c) {
             return options(c).contains("negative_slope") ? leaky_relu(x[0], f(c, "negative_slope"))
                                                          : leaky_relu(x[0]);
           }},
          {"sigmoid", [](const TensorList& x, const json&) { return sigmoid(x[0]); }},
          {"tanh", [](const TensorList& x, const json&) { return tanh(x[0]); }},
          {"softplus", [](const TensorList& x, const json&) { return softplus(x[0]); }},
          {"log_sigmoid", [](const TensorList& x, const json&) { return log_sigmoid(x[0]); }},
          {"silu", [](const TensorList& x, const json&) { return silu(x[0]); }},
          {"gelu",
           [](const TensorList& x, const json& c) {
             return options(c).contains("approximate")
                        ? gelu(x[0], options(c).at("approximate").get<std::string>())
                        : gelu(x[0]);
           }},
          {"elu",
           [](const TensorList& x, const json& c) {
             return options(c).contains("alpha") ? elu(x[0], f(c, "alpha")) : elu(x[0]);
           }},
          {"softmax", [](const TensorList& x,
                         const json& c) { return softmax(x[0], options(c).at("dim").get<int>()); }},
          {"log_softmax",
           [](const TensorList& x, const json& c) {
             return log_softmax(x[0], options(c).at("dim").get<int>());
           }},
      });
}

TEST_CASE("torch: matmul") {
  check_family("matmul",
               {
                   {"matmul",
                    [](const TensorList& x, const json& c) {
                      return matmul(x[0], x[1], flag(c, "transpose_a"), flag(c, "transpose_b"));
                    }},
                   {"bmm",
                    [](const TensorList& x, const json& c) {
                      return bmm(x[0], x[1], flag(c, "transpose_a"), flag(c, "transpose_b"));
                    }},
                   {"linear",
                    [](const TensorList& x, const json&) {
                      return x.size() > 2 ? linear(x[0], x[1], x[2]) : linear(x[0], x[1]);
                    }},
               });
}

TEST_CASE("torch: reductions") {
  check_family(
      "reductions",
      {
          {"sum", reduce<sum, sum>},
          {"mean", reduce<mean, mean>},
          {"max", reduce<max, max>},
          {"logsumexp",
           [](const TensorList& x, const json& c) {
             return logsumexp(x[0], dims_of(options(c), "dims"), flag(c, "keepdim"));
           }},
          {"sum_to", [](const TensorList& x,
                        const json& c) { return sum_to(x[0], shape_option(options(c), "shape")); }},
      });
}

TEST_CASE("torch: shape") {
  check_family(
      "shape",
      {
          {"reshape",
           [](const TensorList& x, const json& c) {
             return reshape(x[0], shape_option(options(c), "shape"));
           }},
          {"flatten",
           [](const TensorList& x, const json& c) {
             return flatten(x[0], options(c).at("start_dim").get<int>(),
                            options(c).at("end_dim").get<int>());
           }},
          {"permute", [](const TensorList& x,
                         const json& c) { return permute(x[0], dims_of(options(c), "order")); }},
          {"transpose",
           [](const TensorList& x, const json& c) {
             return transpose(x[0], options(c).at("dim0").get<int>(),
                              options(c).at("dim1").get<int>());
           }},
          {"expand", [](const TensorList& x,
                        const json& c) { return expand(x[0], shape_option(options(c), "shape")); }},
          {"concat", [](const TensorList& x,
                        const json& c) { return concat(x, options(c).at("dim").get<int>()); }},
          {"slice",
           [](const TensorList& x, const json& c) {
             const json& o = options(c);
             return slice(x[0], o.at("dim").get<int>(), o.at("start").get<int64_t>(),
                          o.at("end").get<int64_t>());
           }},
      });
}

TEST_CASE("torch: nn") {
  check_family("nn", {
                         {"maxout",
                          [](const TensorList& x, const json& c) {
                            return maxout(x[0], options(c).at("pieces").get<int64_t>());
                          }},
                         {"embedding",
                          [](const TensorList& x, const json&) { return embedding(x[0], x[1]); }},
                         {"one_hot",
                          [](const TensorList& x, const json& c) {
                            return one_hot(x[0], options(c).at("n").get<int64_t>());
                          }},
                     });
}

TEST_CASE("torch: losses") {
  check_family(
      "losses",
      {
          {"binary_cross_entropy_with_logits",
           [](const TensorList& x, const json&) {
             return binary_cross_entropy_with_logits(x[0], x[1]);
           }},
          {"mse_loss", [](const TensorList& x, const json&) { return mse_loss(x[0], x[1]); }},
          {"cross_entropy",
           [](const TensorList& x, const json&) { return cross_entropy(x[0], x[1]); }},
      });
}

// Small GAN networks: second order runs the double backwards of several ops chained, as a gradient
// penalty does.
TEST_CASE("torch: composition") {
  check_family("composition",
               {
                   {"mlp_discriminator",
                    [](const TensorList& x, const json& c) {
                      return linear(leaky_relu(linear(x[0], x[1], x[2]), f(c, "negative_slope")),
                                    x[3], x[4]);
                    }},
                   {"maxout_discriminator",
                    [](const TensorList& x, const json& c) {
                      return sigmoid(linear(
                          maxout(linear(x[0], x[1], x[2]), options(c).at("pieces").get<int64_t>()),
                          x[3], x[4]));
                    }},
                   {"mlp_generator",
                    [](const TensorList& x, const json&) {
                      return tanh(linear(relu(linear(x[0], x[1], x[2])), x[3], x[4]));
                    }},
                   // A conditional D: the label's embedding concatenated to x.
                   {"conditional_discriminator",
                    [](const TensorList& x, const json&) {
                      Tensor h = concat({x[0], embedding(x[2], x[1])}, 1);
                      return linear(tanh(linear(h, x[3], x[4])), x[5]);
                    }},
               });
}
