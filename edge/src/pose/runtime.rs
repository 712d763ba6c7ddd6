//! Runs TFLite models on the LiteRT runtime (`libLiteRt.so`) through its C API.
//!
//! `edgefirst-tflite` loads the library and resolves the `LiteRt*` functions (the table of
//! `edgefirst-tflite-sys`, whose signatures that crate checks against LiteRT's headers at compile
//! time). This module calls them itself so that it owns every handle, in particular the
//! compilation options, to which it attaches the CPU thread count: LiteRT reads CPU settings from
//! an "opaque options" entry with the identifier `xnnpack` and a TOML payload (`num_threads = N`).
//! The opaque-options functions, which that table lacks, are resolved here from the same library
//! handle ([`OpaqueFns`]); a library without them is refused at load, so a thread count is never
//! silently ignored.
//!
//! The library, its environment and the models live for the whole process (they are leaked on
//! purpose: an estimator is built once per process, and LiteRT's handles borrow each other).
//! Inputs and outputs are copied through buffers the caller owns and reuses: no allocation per
//! inference.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::{Path, PathBuf};

use edgefirst_tflite::Library;
use edgefirst_tflite_sys::litert::{self as sys, LiteRtFunctions, status};
use tracing::debug;

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
    #[error("{path} is not a usable LiteRT runtime: it lacks {symbol}")]
    Symbol { path: PathBuf, symbol: String },
    #[error("model {path} not found; fetch it with `models/fetch.sh` (or `make models`)")]
    ModelMissing { path: PathBuf },
    #[error("cannot load model {path}: {call} returned LiteRT status {status}")]
    Model {
        path: PathBuf,
        call: &'static str,
        status: u32,
    },
    #[error("model {path} does not have the expected tensors: {reason}")]
    Shape { path: PathBuf, reason: String },
    #[error("the thread count of {path} did not take: {reason}")]
    Threads { path: PathBuf, reason: String },
    #[error("inference failed in {model}: {call} returned LiteRT status {status}")]
    Invoke {
        model: &'static str,
        call: &'static str,
        status: u32,
    },
}

/// The opaque-options functions of LiteRT's C API (`litert_opaque_options.h`, `litert_options.h`).
#[derive(Clone, Copy)]
struct OpaqueFns {
    create: unsafe extern "C" fn(
        *const c_char,
        *mut c_void,
        Option<unsafe extern "C" fn(*mut c_void)>,
        *mut *mut c_void,
    ) -> u32,
    destroy: unsafe extern "C" fn(*mut c_void),
    add: unsafe extern "C" fn(sys::Options, *mut c_void) -> u32,
    get: unsafe extern "C" fn(sys::Options, *mut *mut c_void) -> u32,
    find: unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void) -> u32,
}

/// The opaque-options identifier LiteRT's CPU (XNNPACK) accelerator reads.
const CPU_OPTIONS_ID: &CStr = c"xnnpack";

/// A loaded LiteRT runtime.
pub struct Runtime {
    fns: &'static LiteRtFunctions,
    opaque: OpaqueFns,
    env: sys::Environment,
    path: PathBuf,
}

impl Runtime {
    /// Loads `libLiteRt.so` from `path` and creates its environment.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        if !path.is_file() {
            return Err(RuntimeError::LibraryMissing {
                path: path.to_owned(),
            });
        }
        let lib: &'static Library =
            Box::leak(Box::new(Library::from_path(path).map_err(|source| {
                RuntimeError::Library {
                    path: path.to_owned(),
                    source,
                }
            })?));
        let symbol = |symbol: &str| RuntimeError::Symbol {
            path: path.to_owned(),
            symbol: symbol.to_owned(),
        };
        let fns = lib
            .litert()
            .ok_or_else(|| symbol(lib.litert_missing_symbol().unwrap_or("the LiteRT C API")))?;
        let so = lib.as_sys().library();
        macro_rules! resolve {
            ($name:literal) => {
                // SAFETY: the field types above are the signatures of LiteRT's C API
                // (`litert_opaque_options.h`, `litert_options.h`; the same as
                // `edgefirst-tflite-sys`' generated bindings), and the library stays loaded for
                // the process (leaked above).
                *unsafe { so.get(concat!($name, "\0").as_bytes()) }.map_err(|_| symbol($name))?
            };
        }
        let opaque = OpaqueFns {
            create: resolve!("LiteRtCreateOpaqueOptions"),
            destroy: resolve!("LiteRtDestroyOpaqueOptions"),
            add: resolve!("LiteRtAddOpaqueOptions"),
            get: resolve!("LiteRtGetOpaqueOptions"),
            find: resolve!("LiteRtFindOpaqueOptionsData"),
        };
        let mut env: sys::Environment = std::ptr::null_mut();
        // SAFETY: no options (count 0, null array); `env` is a valid out-pointer.
        let st = unsafe { (fns.create_environment)(0, std::ptr::null(), &mut env) };
        if st != status::OK || env.is_null() {
            return Err(RuntimeError::Model {
                path: path.to_owned(),
                call: "LiteRtCreateEnvironment",
                status: st,
            });
        }
        Ok(Self {
            fns,
            opaque,
            env,
            path: path.to_owned(),
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
        let fail = |call: &'static str, status: u32| RuntimeError::Model {
            path: path.to_owned(),
            call,
            status,
        };
        let check = |call, st: u32| {
            if st == status::OK {
                Ok(())
            } else {
                Err(fail(call, st))
            }
        };
        let fns = self.fns;
        let c_path = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            fail(
                "CString (path holds a NUL byte)",
                status::ERROR_INVALID_ARGUMENT,
            )
        })?;
        let mut model: sys::Model = std::ptr::null_mut();
        // SAFETY: `env` is live for the process; `c_path` is a NUL-terminated path; `model` is a
        // valid out-pointer. The model is never destroyed (the compiled model borrows it).
        check("LiteRtCreateModelFromFile", unsafe {
            (fns.create_model_from_file)(self.env, c_path.as_ptr(), &mut model)
        })?;
        let options = CompileOptions::new(fns, self.opaque, threads, &fail)?;
        if options.threads != Some(threads) {
            return Err(RuntimeError::Threads {
                path: path.to_owned(),
                reason: format!(
                    "asked for {threads}, the options read back {:?}",
                    options.threads
                ),
            });
        }
        let mut compiled: sys::CompiledModel = std::ptr::null_mut();
        // SAFETY: all handles are live; the options are only read during the call (LiteRT does
        // not retain them), so they are destroyed when `options` drops below.
        check("LiteRtCreateCompiledModel", unsafe {
            (fns.create_compiled_model)(self.env, model, options.raw, &mut compiled)
        })?;
        let mut signature: sys::Signature = std::ptr::null_mut();
        let (mut n_in, mut n_out) = (0, 0);
        // SAFETY: `model` is live; the out-pointers are valid.
        unsafe {
            check(
                "LiteRtGetModelSignature",
                (fns.get_model_signature)(model, 0, &mut signature),
            )?;
            check(
                "LiteRtGetNumSignatureInputs",
                (fns.get_num_signature_inputs)(signature, &mut n_in),
            )?;
            check(
                "LiteRtGetNumSignatureOutputs",
                (fns.get_num_signature_outputs)(signature, &mut n_out),
            )?;
        }
        let buffer = |i, input: bool| -> Result<Buffer, RuntimeError> {
            let mut tensor: sys::Tensor = std::ptr::null_mut();
            // SAFETY: zeroed is a valid bit pattern for this plain C struct (enums and arrays of
            // integers); LiteRT fills it in.
            let mut ty: sys::RankedTensorType = unsafe { std::mem::zeroed() };
            let mut reqs: sys::TensorBufferRequirements = std::ptr::null_mut();
            let mut raw: sys::TensorBuffer = std::ptr::null_mut();
            let mut size = 0usize;
            // SAFETY: `signature` and `compiled` are live and `i` is below the count LiteRT
            // reported; every out-pointer is valid. The requirements belong to the compiled model.
            unsafe {
                if input {
                    check(
                        "LiteRtGetSignatureInputTensorByIndex",
                        (fns.get_signature_input_tensor_by_index)(signature, i, &mut tensor),
                    )?;
                    check(
                        "LiteRtGetCompiledModelInputBufferRequirements",
                        (fns.get_compiled_model_input_buffer_requirements)(
                            compiled, 0, i, &mut reqs,
                        ),
                    )?;
                } else {
                    check(
                        "LiteRtGetSignatureOutputTensorByIndex",
                        (fns.get_signature_output_tensor_by_index)(signature, i, &mut tensor),
                    )?;
                    check(
                        "LiteRtGetCompiledModelOutputBufferRequirements",
                        (fns.get_compiled_model_output_buffer_requirements)(
                            compiled, 0, i, &mut reqs,
                        ),
                    )?;
                }
                check(
                    "LiteRtGetRankedTensorType",
                    (fns.get_ranked_tensor_type)(tensor, &mut ty),
                )?;
                check(
                    "LiteRtCreateManagedTensorBufferFromRequirements",
                    (fns.create_managed_tensor_buffer_from_requirements)(
                        self.env, &ty, reqs, &mut raw,
                    ),
                )?;
                check(
                    "LiteRtGetTensorBufferSize",
                    (fns.get_tensor_buffer_size)(raw, &mut size),
                )?;
            }
            Ok(Buffer { raw, size })
        };
        let inputs = (0..n_in)
            .map(|i| buffer(i, true))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = (0..n_out)
            .map(|i| buffer(i, false))
            .collect::<Result<Vec<_>, _>>()?;
        debug!(model = name, runtime = %self.path.display(), threads, inputs = n_in, outputs = n_out, "model compiled");
        Ok(Net {
            name,
            path: path.to_owned(),
            fns,
            compiled,
            threads,
            input_handles: inputs.iter().map(|b| b.raw).collect(),
            output_handles: outputs.iter().map(|b| b.raw).collect(),
            inputs,
            outputs,
        })
    }
}

/// Compilation options for the CPU with a thread count, owned (destroyed on drop).
struct CompileOptions {
    fns: &'static LiteRtFunctions,
    raw: sys::Options,
    /// The thread count read back from the options after it was attached (`None`: not found).
    threads: Option<u32>,
}

impl CompileOptions {
    fn new(
        fns: &'static LiteRtFunctions,
        opaque: OpaqueFns,
        threads: u32,
        fail: &dyn Fn(&'static str, u32) -> RuntimeError,
    ) -> Result<Self, RuntimeError> {
        let mut raw: sys::Options = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer.
        let st = unsafe { (fns.create_options)(&mut raw) };
        if st != status::OK || raw.is_null() {
            return Err(fail("LiteRtCreateOptions", st));
        }
        let mut options = Self {
            fns,
            raw,
            threads: None,
        };
        // SAFETY: `raw` is the live options handle created above.
        let st =
            unsafe { (fns.set_options_hardware_accelerators)(raw, sys::kLiteRtHwAcceleratorCpu) };
        if st != status::OK {
            return Err(fail("LiteRtSetOptionsHardwareAccelerators", st));
        }
        let payload = CString::new(cpu_options_toml(threads))
            .map_err(|_| fail("CString", status::ERROR_INVALID_ARGUMENT))?
            .into_raw();
        unsafe extern "C" fn free_payload(p: *mut c_void) {
            // SAFETY: `p` is the pointer `CString::into_raw` produced in `CompileOptions::new`,
            // freed exactly once, by LiteRT's destruction of the opaque options that own it.
            unsafe { drop(CString::from_raw(p.cast::<c_char>())) }
        }
        let mut entry: *mut c_void = std::ptr::null_mut();
        // SAFETY: LiteRT copies the identifier; `payload` is handed over with its destructor;
        // `entry` is a valid out-pointer.
        let st = unsafe {
            (opaque.create)(
                CPU_OPTIONS_ID.as_ptr(),
                payload.cast(),
                Some(free_payload),
                &mut entry,
            )
        };
        if st != status::OK || entry.is_null() {
            // SAFETY: LiteRT did not take the payload: free it here, once.
            unsafe { free_payload(payload.cast()) };
            return Err(fail("LiteRtCreateOpaqueOptions", st));
        }
        // SAFETY: `raw` is live; on success LiteRtAddOpaqueOptions takes ownership of `entry`.
        let st = unsafe { (opaque.add)(raw, entry) };
        if st != status::OK {
            // SAFETY: not added, so still ours; destroying it frees the payload once.
            unsafe { (opaque.destroy)(entry) };
            return Err(fail("LiteRtAddOpaqueOptions", st));
        }
        options.threads = options.read_threads(opaque);
        Ok(options)
    }

    /// Reads the `xnnpack` entry back out of the options and parses its thread count.
    fn read_threads(&self, opaque: OpaqueFns) -> Option<u32> {
        let mut list: *mut c_void = std::ptr::null_mut();
        let mut data: *mut c_void = std::ptr::null_mut();
        // SAFETY: `self.raw` is live; the out-pointers are valid. The list and its data stay owned
        // by the options (borrowed only within this function).
        unsafe {
            if (opaque.get)(self.raw, &mut list) != status::OK || list.is_null() {
                return None;
            }
            if (opaque.find)(list, CPU_OPTIONS_ID.as_ptr(), &mut data) != status::OK
                || data.is_null()
            {
                return None;
            }
        }
        // SAFETY: the payload is the NUL-terminated string this module attached.
        let text = unsafe { CStr::from_ptr(data.cast::<c_char>()) }
            .to_str()
            .ok()?;
        parse_num_threads(text)
    }
}

impl Drop for CompileOptions {
    fn drop(&mut self) {
        // SAFETY: created by LiteRtCreateOptions, destroyed once; a compiled model does not
        // retain its compilation options.
        unsafe { (self.fns.destroy_options)(self.raw) }
    }
}

/// The TOML payload of LiteRT's `xnnpack` CPU options.
fn cpu_options_toml(threads: u32) -> String {
    format!("num_threads = {threads}\n")
}

/// The `num_threads` of a CPU options payload.
fn parse_num_threads(toml: &str) -> Option<u32> {
    toml.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "num_threads")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// A managed tensor buffer of a compiled model (host memory).
struct Buffer {
    raw: sys::TensorBuffer,
    size: usize,
}

/// One compiled model with its input and output buffers.
pub struct Net {
    name: &'static str,
    path: PathBuf,
    fns: &'static LiteRtFunctions,
    compiled: sys::CompiledModel,
    threads: u32,
    inputs: Vec<Buffer>,
    outputs: Vec<Buffer>,
    /// The raw handles handed to each run (kept, so a run allocates nothing).
    input_handles: Vec<sys::TensorBuffer>,
    output_handles: Vec<sys::TensorBuffer>,
}

// SAFETY: the handles are owned by this value alone and used through `&mut self` only, so at most
// one thread touches them at a time; LiteRT keeps no thread affinity for CPU compiled models.
unsafe impl Send for Net {}

impl Drop for Net {
    fn drop(&mut self) {
        // SAFETY: each handle was created for this `Net` and is destroyed once, buffers before
        // the compiled model that uses them.
        unsafe {
            for b in self.inputs.iter().chain(&self.outputs) {
                (self.fns.destroy_tensor_buffer)(b.raw);
            }
            (self.fns.destroy_compiled_model)(self.compiled);
        }
    }
}

impl Net {
    /// The CPU thread count the model was compiled with, as read back from its options.
    pub fn threads(&self) -> u32 {
        self.threads
    }

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
        if self.inputs.len() != 1 || self.inputs[0].size != input_floats * 4 {
            return Err(shape(format!(
                "want 1 input of {input_floats} floats, got {:?} bytes",
                self.inputs.iter().map(|b| b.size).collect::<Vec<_>>()
            )));
        }
        let got: Vec<usize> = self.outputs.iter().map(|b| b.size).collect();
        let want: Vec<usize> = output_floats.iter().map(|n| n * 4).collect();
        if got != want {
            return Err(shape(format!(
                "want outputs of {want:?} bytes, got {got:?}"
            )));
        }
        Ok(())
    }

    fn invoke_err(&self, call: &'static str, status: u32) -> RuntimeError {
        RuntimeError::Invoke {
            model: self.name,
            call,
            status,
        }
    }

    /// Copies `input` into the input tensor and runs the model.
    pub fn run(&mut self, input: &[f32]) -> Result<(), RuntimeError> {
        let bytes: &[u8] = bytemuck::cast_slice(input);
        let Some(buf) = self.inputs.first() else {
            return Err(self.invoke_err("run (model has no input)", status::ERROR_INVALID_ARGUMENT));
        };
        if bytes.len() > buf.size {
            return Err(self.invoke_err("run (input too large)", status::ERROR_INVALID_ARGUMENT));
        }
        let raw = buf.raw;
        self.locked(raw, sys::kLiteRtTensorBufferLockModeWrite, |host| {
            // SAFETY: the lock maps at least `size` writable bytes and `bytes.len() <= size`;
            // the regions cannot overlap (Rust-owned input, runtime-owned mapping).
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), host.cast::<u8>(), bytes.len()) }
        })?;
        // SAFETY: `compiled` is live; the handle arrays hold live buffers of this model, sized as
        // LiteRT reported, and are exclusively borrowed for the call.
        let st = unsafe {
            (self.fns.run_compiled_model)(
                self.compiled,
                0,
                self.input_handles.len(),
                self.input_handles.as_mut_ptr(),
                self.output_handles.len(),
                self.output_handles.as_mut_ptr(),
            )
        };
        if st != status::OK {
            return Err(self.invoke_err("LiteRtRunCompiledModel", st));
        }
        Ok(())
    }

    /// Copies output `index` into `out` (which must not be larger than the output).
    pub fn read(&mut self, index: usize, out: &mut [f32]) -> Result<(), RuntimeError> {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out);
        let Some(buf) = self.outputs.get(index) else {
            return Err(self.invoke_err("read (no such output)", status::ERROR_INDEX_OOB));
        };
        if bytes.len() > buf.size {
            return Err(self.invoke_err("read (output smaller)", status::ERROR_INVALID_ARGUMENT));
        }
        let raw = buf.raw;
        self.locked(raw, sys::kLiteRtTensorBufferLockModeRead, |host| {
            // SAFETY: the lock maps at least `size` readable bytes and `bytes.len() <= size`.
            unsafe {
                std::ptr::copy_nonoverlapping(host.cast::<u8>(), bytes.as_mut_ptr(), bytes.len())
            }
        })
    }

    /// Locks `raw` into host memory for `f`, then unlocks it.
    fn locked(
        &self,
        raw: sys::TensorBuffer,
        mode: sys::TensorBufferLockMode,
        f: impl FnOnce(*mut c_void),
    ) -> Result<(), RuntimeError> {
        let mut host: *mut c_void = std::ptr::null_mut();
        // SAFETY: `raw` is a live buffer of this model; `host` is a valid out-pointer.
        let st = unsafe { (self.fns.lock_tensor_buffer)(raw, &mut host, mode) };
        if st != status::OK || host.is_null() {
            return Err(self.invoke_err("LiteRtLockTensorBuffer", st));
        }
        f(host);
        // SAFETY: locked above, unlocked once.
        let st = unsafe { (self.fns.unlock_tensor_buffer)(raw) };
        if st != status::OK {
            return Err(self.invoke_err("LiteRtUnlockTensorBuffer", st));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_threads_round_trips_through_the_payload() {
        for n in [1, 2, 4, 64] {
            assert_eq!(parse_num_threads(&cpu_options_toml(n)), Some(n));
        }
        assert_eq!(parse_num_threads("other = 1\n num_threads=3\n"), Some(3));
        assert_eq!(parse_num_threads("num_threads = x"), None);
        assert_eq!(parse_num_threads(""), None);
    }
}
