// The SDK's Learner: trains the built-in CNN with LibTorch (edgefed::ml). Internal.
#pragma once

#include "edgefed/client/session.hpp"
#include "edgefed/data/dataset.hpp"

#include <memory>

namespace edgefed::client {

class TorchLearner final : public Learner {
 public:
  explicit TorchLearner(data::Dataset training);
  ~TorchLearner() override;
  Result<LocalUpdate> train(const ml::ModelView& model, const protocol::TrainPlan& plan, std::uint64_t round) override;
  // Accuracy of `model` on `data` (BatchNorm in inference mode, the device's statistics).
  Result<double> evaluate(const ml::ModelView& model, const data::Dataset& data);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::client
