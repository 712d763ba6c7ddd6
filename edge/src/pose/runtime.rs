//! Runs TFLite models on the LiteRT runtime (`libLiteRt.so`) through `edgefirst-tflite`.
//!
//! The library, its environment and the models live for the whole process (they are leaked on
//! purpose: LiteRT's handles borrow each other, and an estimator is built once per process).
//! Inputs and outputs are copied through buffers the caller owns and reuses: no allocation per
//! inference.

use std::ffi::{CString, c_char, c_void};
use std::path::{Path, PathBuf};

use edgefirst_tflite::{Library, litert};
use tracing::{debug, warn};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("LiteRT runtime {path} not found; fetch it with `models/fetch.sh` (or `make models`)")]
    LibraryMissing { path: PathBuf },
    #[error("cannot load the LiteRT runtime {path}: {source}")]
    Library {
        path: PathBuf,
        source: edgefirst_tflite::Error,
    },
    #[error("model {path} not found; fetch it with `models/fetch.sh` (or `make models`)")]
    ModelMissing { path: PathBuf },
    #[error("cannot load model {path}: {source}")]
    Model {
        path: PathBuf,
        source: edgefirst_tflite::Error,
    },
    #[error("model {path} does not have the expected tensors: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error("inference failed in {model}: {source}")]
    Invoke {
        model: &'static str,
        source: edgefirst_tflite::Error,
    },
}

/// A loaded LiteRT runtime.
pub struct Runtime {
    lib: &'static Library,
    env: &'static litert::Environment<'static>,
    path: PathBuf,
    opaque: Option<OpaqueOptionsFns>,
}

/// The two C functions that attach CPU options to compilation options; `edgefirst-tflite` does
/// not wrap them, so they are resolved from the same library.
struct OpaqueOptionsFns {
    _lib: libloading::Library,
    create: CreateOpaqueFn,
    add: AddOpaqueFn,
}

type CreateOpaqueFn = unsafe extern "C" fn(
    *const c_char,
    *mut c_void,
    Option<unsafe extern "C" fn(*mut c_void)>,
    *mut *mut c_void,
) -> i32;
type AddOpaqueFn = unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32;

impl Runtime {
    /// Loads `libLiteRt.so` from `path`.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        if !path.is_file() {
            return Err(RuntimeError::LibraryMissing {
                path: path.to_owned(),
            });
        }
        let err = |source| RuntimeError::Library {
            path: path.to_owned(),
            source,
        };
        let lib: &'static Library = Box::leak(Box::new(Library::from_path(path).map_err(err)?));
        let env: &'static litert::Environment<'static> =
            Box::leak(Box::new(litert::Environment::new(lib).map_err(err)?));
        Ok(Self {
            lib,
            env,
            path: path.to_owned(),
            opaque: resolve_opaque(path),
        })
    }

    /// Loads and compiles a model for the CPU (XNNPACK) with `threads` threads.
    pub fn load_model(
        &self,
        path: &Path,
        name: &'static str,
        threads: u32,
    ) -> Result<Net, RuntimeError> {
        if !path.is_file() {
            return Err(RuntimeError::ModelMissing {
                path: path.to_owned(),
            });
        }
        let err = |source| RuntimeError::Model {
            path: path.to_owned(),
            source,
        };
        let model: &'static litert::Model<'static> = Box::leak(Box::new(
            litert::Model::from_file(self.env, path).map_err(err)?,
        ));
        let options = litert::Options::new(self.lib)
            .and_then(|o| o.hardware_accelerators(litert::HwAccelerators::CPU))
            .map_err(err)?;
        self.set_threads(&options, threads);
        let compiled = litert::CompiledModel::create(self.env, model, &options).map_err(err)?;
        let n_in = model.num_inputs(0).map_err(err)?;
        let n_out = model.num_outputs(0).map_err(err)?;
        let inputs = (0..n_in)
            .map(|i| compiled.create_input_buffer(0, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let outputs = (0..n_out)
            .map(|i| compiled.create_output_buffer(0, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        debug!(model = name, runtime = %self.path.display(), threads, inputs = n_in, outputs = n_out, "model compiled");
        Ok(Net {
            name,
            path: path.to_owned(),
            compiled,
            inputs,
            outputs,
        })
    }

    /// Sets the XNNPACK thread count of `options`.
    ///
    /// LiteRT reads CPU settings from an "opaque options" entry with the identifier `xnnpack` and a
    /// TOML payload (`num_threads = N`). `edgefirst-tflite` 0.10.3 exposes neither that call nor
    /// the raw options handle, but the handle is printed by `Options`' `Debug` output; it is read
    /// from there (the crate is pinned to that version in Cargo.toml). If anything here fails, the
    /// runtime's default of one thread stays and a warning says so.
    fn set_threads(&self, options: &litert::Options<'_>, threads: u32) {
        let Some(f) = &self.opaque else {
            warn!(
                threads,
                "cannot set the LiteRT thread count (opaque options unavailable); using 1"
            );
            return;
        };
        let shown = format!("{options:?}");
        let handle = shown
            .split("ptr: 0x")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_hexdigit()).next())
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .filter(|&p| p != 0);
        let Some(handle) = handle else {
            warn!(
                threads,
                "cannot find the LiteRT options handle; using 1 thread"
            );
            return;
        };
        let (Ok(payload), Ok(id)) = (
            CString::new(format!("num_threads = {threads}\n")),
            CString::new("xnnpack"),
        ) else {
            return;
        };
        unsafe extern "C" fn free_payload(p: *mut c_void) {
            // SAFETY: `p` is the pointer `CString::into_raw` produced below, freed once by LiteRT.
            unsafe { drop(CString::from_raw(p.cast::<c_char>())) }
        }
        let payload = payload.into_raw();
        let mut opaque: *mut c_void = std::ptr::null_mut();
        // SAFETY: `id` outlives the call (LiteRT copies the identifier); `payload` is handed over
        // with its destructor; `opaque` is a valid out-pointer.
        let created =
            unsafe { (f.create)(id.as_ptr(), payload.cast(), Some(free_payload), &mut opaque) };
        if created != 0 || opaque.is_null() {
            // SAFETY: LiteRT did not take the payload: free it here.
            unsafe { free_payload(payload.cast()) };
            warn!(
                status = created,
                "LiteRtCreateOpaqueOptions failed; using 1 thread"
            );
            return;
        }
        // SAFETY: `handle` is the live LiteRtOptions of `options` (borrowed for this call), and
        // LiteRtAddOpaqueOptions takes ownership of `opaque`.
        let added = unsafe { (f.add)(handle as *mut c_void, opaque) };
        if added != 0 {
            warn!(
                status = added,
                "LiteRtAddOpaqueOptions failed; using 1 thread"
            );
        }
    }
}

fn resolve_opaque(path: &Path) -> Option<OpaqueOptionsFns> {
    // SAFETY: loading the same, already loaded library again only takes a reference; its
    // initialisers have run.
    let lib = unsafe { libloading::Library::new(path) }.ok()?;
    // SAFETY: the signatures match LiteRT's C API (litert_opaque_options.h, litert_options.h).
    let create = unsafe { lib.get::<CreateOpaqueFn>(b"LiteRtCreateOpaqueOptions\0") }
        .ok()
        .map(|s| *s)?;
    let add = unsafe { lib.get::<AddOpaqueFn>(b"LiteRtAddOpaqueOptions\0") }
        .ok()
        .map(|s| *s)?;
    Some(OpaqueOptionsFns {
        _lib: lib,
        create,
        add,
    })
}

/// One compiled model with its input and output buffers.
pub struct Net {
    name: &'static str,
    path: PathBuf,
    compiled: litert::CompiledModel<'static>,
    inputs: Vec<litert::TensorBuffer<'static>>,
    outputs: Vec<litert::TensorBuffer<'static>>,
}

// SAFETY: the handles are owned by this value alone and used through `&mut self` only, so at most
// one thread touches them at a time; LiteRT keeps no thread affinity for CPU compiled models.
unsafe impl Send for Net {}

impl Net {
    /// Checks that input `i` holds `floats` f32 values and output sizes are as listed.
    pub fn check_shapes(
        &self,
        input_floats: usize,
        output_floats: &[usize],
    ) -> Result<(), RuntimeError> {
        let shape = |reason: String| RuntimeError::Shape {
            path: self.path.clone(),
            reason,
        };
        if self.inputs.len() != 1 || self.inputs[0].size() != input_floats * 4 {
            return Err(shape(format!(
                "want 1 input of {input_floats} floats, got {:?} bytes",
                self.inputs.iter().map(|b| b.size()).collect::<Vec<_>>()
            )));
        }
        let got: Vec<usize> = self.outputs.iter().map(|b| b.size()).collect();
        let want: Vec<usize> = output_floats.iter().map(|n| n * 4).collect();
        if got != want {
            return Err(shape(format!(
                "want outputs of {want:?} bytes, got {got:?}"
            )));
        }
        Ok(())
    }

    /// Copies `input` into the input tensor and runs the model.
    pub fn run(&mut self, input: &[f32]) -> Result<(), RuntimeError> {
        let err = |source| RuntimeError::Invoke {
            model: self.name,
            source,
        };
        self.inputs[0]
            .write_bytes(bytemuck::cast_slice(input))
            .map_err(err)?;
        self.compiled
            .run(0, &mut self.inputs, &mut self.outputs)
            .map_err(err)
    }

    /// Copies output `index` into `out` (which must have the output's size).
    pub fn read(&mut self, index: usize, out: &mut [f32]) -> Result<(), RuntimeError> {
        let name = self.name;
        self.outputs[index]
            .read_bytes_into(bytemuck::cast_slice_mut(out))
            .map_err(|source| RuntimeError::Invoke {
                model: name,
                source,
            })
    }
}
