//! Walking a Burn module's float parameters together with their module paths
//! (`gamma.0.weight`, `filter.conv.bias`): the field paths of `#[derive(Module)]` structs
//! joined by dots, which key the module files, moving averages, gradients and optimiser
//! moments of this project.
//!
//! Burn's [`ModuleVisitor`] and [`ModuleMapper`] announce each submodule with
//! `enter_module` / `exit_module`; [`visit_with_paths`] and [`map_with_paths`] keep that
//! path once, so that a walker only says what it does with a parameter at a path
//! ([`PathVisitor`], [`PathMapper`]).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Reads every float parameter of a module with its path (see [`visit_with_paths`]).
pub trait PathVisitor<B: Backend> {
    /// Visits the float parameter at `path`.
    fn visit_float<const D: usize>(&mut self, path: &str, param: &Param<Tensor<B, D>>);
}

/// Replaces every float parameter of a module, knowing its path (see [`map_with_paths`]).
pub trait PathMapper<B: Backend> {
    /// The parameter that replaces `param`, the float parameter at `path`.
    fn map_float<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<B, D>>,
    ) -> Param<Tensor<B, D>>;
}

/// Calls `visitor` on every float parameter of `module` in Burn's visiting order, with the
/// parameter's module path.
pub fn visit_with_paths<B: Backend, M: Module<B>, V: PathVisitor<B>>(module: &M, visitor: &mut V) {
    module.visit(&mut Tracked::new(visitor));
}

/// Maps every float parameter of `module` through `mapper` in Burn's mapping order, with
/// the parameter's module path.
pub fn map_with_paths<B: Backend, M: Module<B>, V: PathMapper<B>>(module: M, mapper: &mut V) -> M {
    module.map(&mut Tracked::new(mapper))
}

/// A Burn visitor or mapper that keeps the current module path for the walker it wraps.
struct Tracked<'a, W> {
    /// The names entered so far, joined by dots.
    path: String,
    /// The length of `path` before each name still entered.
    marks: Vec<usize>,
    walker: &'a mut W,
}

impl<'a, W> Tracked<'a, W> {
    fn new(walker: &'a mut W) -> Self {
        Self {
            path: String::new(),
            marks: Vec::new(),
            walker,
        }
    }

    fn enter(&mut self, name: &str) {
        self.marks.push(self.path.len());
        if self.marks.len() > 1 {
            self.path.push('.');
        }
        self.path.push_str(name);
    }

    fn exit(&mut self) {
        if let Some(len) = self.marks.pop() {
            self.path.truncate(len);
        }
    }
}

impl<B: Backend, V: PathVisitor<B>> ModuleVisitor<B> for Tracked<'_, V> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.walker.visit_float(&self.path, param);
    }
}

impl<B: Backend, V: PathMapper<B>> ModuleMapper<B> for Tracked<'_, V> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        self.walker.map_float(&self.path, param)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig, PRelu, PReluConfig};

    type B = Flex;

    #[derive(Module, Debug)]
    struct Inner<B: Backend> {
        proj: Linear<B>,
        act: PRelu<B>,
    }

    #[derive(Module, Debug)]
    struct Net<B: Backend> {
        first: Linear<B>,
        blocks: Vec<Inner<B>>,
        head: Option<Linear<B>>,
    }

    fn net() -> Net<B> {
        let device = Default::default();
        let inner = || Inner {
            proj: LinearConfig::new(2, 2).init(&device),
            act: PReluConfig::new().init(&device),
        };
        Net {
            first: LinearConfig::new(2, 2).with_bias(false).init(&device),
            blocks: vec![inner(), inner()],
            head: Some(LinearConfig::new(2, 1).init(&device)),
        }
    }

    /// The paths as the walkers before this module computed them: the entered names in a
    /// `Vec`, joined by dots at each parameter.
    fn joined_paths(module: &Net<B>) -> Vec<String> {
        struct Joined(Vec<String>, Vec<String>);
        impl ModuleVisitor<B> for Joined {
            fn enter_module(&mut self, name: &str, _: &str) {
                self.0.push(name.to_string());
            }
            fn exit_module(&mut self, _: &str, _: &str) {
                self.0.pop();
            }
            fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<B, D>>) {
                self.1.push(self.0.join("."));
            }
        }
        let mut joined = Joined(Vec::new(), Vec::new());
        module.visit(&mut joined);
        joined.1
    }

    struct Paths(Vec<String>);

    impl PathVisitor<B> for Paths {
        fn visit_float<const D: usize>(&mut self, path: &str, _: &Param<Tensor<B, D>>) {
            self.0.push(path.to_string());
        }
    }

    impl PathMapper<B> for Paths {
        fn map_float<const D: usize>(
            &mut self,
            path: &str,
            param: Param<Tensor<B, D>>,
        ) -> Param<Tensor<B, D>> {
            self.0.push(path.to_string());
            // Each parameter set to its visiting index, to see the mapped module is whole.
            let index = self.0.len() as f32;
            param.map(|t| t.zeros_like().add_scalar(index))
        }
    }

    #[test]
    fn visitor_and_mapper_give_the_module_paths() {
        let net = net();
        let mut visited = Paths(Vec::new());
        visit_with_paths(&net, &mut visited);
        let expected = [
            "first.weight",
            "blocks.0.proj.weight",
            "blocks.0.proj.bias",
            "blocks.0.act.alpha",
            "blocks.1.proj.weight",
            "blocks.1.proj.bias",
            "blocks.1.act.alpha",
            "head.weight",
            "head.bias",
        ];
        assert_eq!(visited.0, expected);
        assert_eq!(visited.0, joined_paths(&net));

        let mut mapped = Paths(Vec::new());
        let net = map_with_paths(net, &mut mapped);
        assert_eq!(mapped.0, expected);
        let head_bias = net.head.unwrap().bias.unwrap().val().into_data();
        assert_eq!(head_bias.to_vec::<f32>().unwrap(), [9.0]);
    }
}
