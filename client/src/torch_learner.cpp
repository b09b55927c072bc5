#include "torch_learner.hpp"

#include "edgefed/ml/model.hpp"
#include "edgefed/ml/trainer.hpp"

#include <mutex>

namespace edgefed::client {

struct TorchLearner::Impl {
  data::Dataset training;
  std::optional<ml::Model> model;
  nlohmann::json architecture;
  std::mutex mutex;  // train() and evaluate() may come from different threads

  Result<ml::Model*> model_for(const ml::ModelView& view) {
    if (!model || architecture != view.architecture) {
      EDGEFED_ASSIGN_OR_RETURN(ml::CnnConfig config, ml::CnnConfig::from_json(view.architecture));
      EDGEFED_ASSIGN_OR_RETURN(ml::Model m, ml::Model::default_cnn(config));
      model.emplace(std::move(m));
      architecture = view.architecture;
    }
    model->set_tier(view.tier, view.train_head);
    EDGEFED_TRY(model->load(view.values));
    return &*model;
  }
};

TorchLearner::TorchLearner(data::Dataset training) : impl_(std::make_unique<Impl>()) {
  impl_->training = std::move(training);
}
TorchLearner::~TorchLearner() = default;

Result<LocalUpdate> TorchLearner::train(const ml::ModelView& view, const protocol::TrainPlan& plan,
                                        std::uint64_t round) {
  std::lock_guard lock(impl_->mutex);
  EDGEFED_ASSIGN_OR_RETURN(ml::Model * model, impl_->model_for(view));
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainConfig config, ml::train_config_for(plan, round));
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainReport report, ml::train_local(*model, impl_->training, config));
  LocalUpdate update;
  update.delta.assign(report.delta.flat().begin(), report.delta.flat().end());
  update.local = model->tensors(ml::TensorPolicy::local);
  update.examples = impl_->training.size();
  return update;
}

Result<double> TorchLearner::evaluate(const ml::ModelView& view, const data::Dataset& data) {
  std::lock_guard lock(impl_->mutex);
  EDGEFED_ASSIGN_OR_RETURN(ml::Model * model, impl_->model_for(view));
  return model->evaluate(data).accuracy;
}

}  // namespace edgefed::client
