//! Raspberry Pi camera (and any libcamera camera) through the `libcamera` crate (feature
//! `libcamera`; needs libcamera >= 0.4, as in Raspberry Pi OS Bookworm).
//!
//! A thread of its own owns the camera manager and the camera (their handles borrow each other),
//! keeps every request queued, copies each completed frame to packed RGB (honouring the stride)
//! and hands it over through a one-slot mailbox: a frame the pipeline has not taken is replaced
//! by the newer one, so the camera never waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use libcamera::camera::CameraConfigurationStatus;
use libcamera::camera_manager::CameraManager;
use libcamera::control::ControlList;
use libcamera::controls::FrameDurationLimits;
use libcamera::framebuffer_allocator::{FrameBuffer, FrameBufferAllocator};
use libcamera::framebuffer_map::MemoryMappedFrameBuffer;
use libcamera::geometry::Size;
use libcamera::pixel_format::PixelFormat;
use libcamera::request::ReuseFlag;
use libcamera::stream::StreamRole;
use pose_shared::time::now_us;

use super::pixel::CameraFormat;
use super::{Frame, Source, SourceError};
use crate::mailbox::Mailbox;

fn pixel_format(f: CameraFormat) -> PixelFormat {
    PixelFormat::new(u32::from_le_bytes(f.fourcc()), 0)
}

/// What to open.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSettings {
    /// Index in libcamera's camera list.
    pub index: usize,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub format: CameraFormat,
}

/// A libcamera camera as a frame source.
pub struct Libcamera {
    frames: Arc<Mailbox<Result<Frame, String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    describe: String,
    seq: u64,
}

impl Libcamera {
    /// Opens and starts the camera; returns once it is streaming, or with the reason it is not.
    pub fn open(settings: CameraSettings) -> Result<Self, SourceError> {
        let frames: Arc<Mailbox<Result<Frame, String>>> = Arc::new(Mailbox::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String, String>>();
        let (f, s) = (frames.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("libcamera".into())
            .spawn(move || {
                if let Err(e) = camera_thread(&settings, &f, &s, &ready_tx) {
                    // Before streaming: report to `open`; after: to the pipeline.
                    if ready_tx.send(Err(e.clone())).is_err() {
                        f.put(Err(e));
                    }
                }
                f.close();
            })
            .map_err(|e| SourceError::Config(format!("cannot start the camera thread: {e}")))?;
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(describe)) => Ok(Self {
                frames,
                stop,
                thread: Some(thread),
                describe,
                seq: 0,
            }),
            Ok(Err(e)) => Err(SourceError::Config(format!("libcamera: {e}"))),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(SourceError::Config(
                    "libcamera: the camera did not start within 10 s".into(),
                ))
            }
        }
    }
}

impl Drop for Libcamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Source for Libcamera {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        match self.frames.take(Duration::from_secs(5)) {
            Some(Ok(mut frame)) => {
                frame.seq = self.seq;
                self.seq += 1;
                Ok(Some(frame))
            }
            Some(Err(e)) => Err(SourceError::Config(format!("libcamera: {e}"))),
            None if self.frames.is_finished() => Ok(None),
            None => Err(SourceError::Config("libcamera: no frame for 5 s".into())),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

fn camera_thread(
    s: &CameraSettings,
    frames: &Mailbox<Result<Frame, String>>,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<Result<String, String>>,
) -> Result<(), String> {
    let mgr = CameraManager::new().map_err(|e| format!("camera manager: {e}"))?;
    let cameras = mgr.cameras();
    let cam = cameras
        .get(s.index)
        .ok_or_else(|| format!("no camera {} (libcamera sees {})", s.index, cameras.len()))?;
    let id = cam.id().to_owned();
    let mut cam = cam
        .acquire()
        .map_err(|e| format!("cannot acquire camera {id}: {e}"))?;
    let mut cfgs = cam
        .generate_configuration(&[StreamRole::VideoRecording])
        .ok_or("no configuration for video recording")?;
    {
        let mut c = cfgs.get_mut(0).ok_or("no stream configuration")?;
        c.set_pixel_format(pixel_format(s.format));
        c.set_size(Size {
            width: s.width,
            height: s.height,
        });
    }
    if let CameraConfigurationStatus::Invalid = cfgs.validate() {
        return Err(format!(
            "camera {id} rejects {}x{} {:?}",
            s.width, s.height, s.format
        ));
    }
    let (width, height, stride, format) = {
        let c = cfgs.get(0).ok_or("no stream configuration")?;
        let size = c.get_size();
        let got = c.get_pixel_format();
        let format = [
            CameraFormat::Bgr888,
            CameraFormat::Rgb888,
            CameraFormat::Xbgr8888,
            CameraFormat::Xrgb8888,
        ]
        .into_iter()
        .find(|f| pixel_format(*f) == got)
        .ok_or_else(|| {
            format!("camera {id} offers pixel format {got:?}, which this source cannot convert")
        })?;
        (size.width, size.height, c.get_stride() as usize, format)
    };
    cam.configure(&mut cfgs)
        .map_err(|e| format!("configure: {e}"))?;
    let stream = cfgs
        .get(0)
        .and_then(|c| c.stream())
        .ok_or("no stream after configure")?;
    let mut alloc = FrameBufferAllocator::new(&cam);
    let buffers = alloc.alloc(&stream).map_err(|e| format!("buffers: {e}"))?;
    let mut requests = Vec::new();
    for (i, buf) in buffers.into_iter().enumerate() {
        let buf = MemoryMappedFrameBuffer::new(buf).map_err(|e| format!("mmap: {e:?}"))?;
        let mut req = cam
            .create_request(Some(i as u64))
            .ok_or("cannot create a request")?;
        req.add_buffer(&stream, buf)
            .map_err(|e| format!("add buffer: {e}"))?;
        requests.push(req);
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    cam.on_request_completed(move |req| {
        let _ = done_tx.send(req);
    });
    let mut controls = ControlList::new();
    if s.fps > 0.0 {
        let frame_us = (1e6 / s.fps).round() as i64;
        controls
            .set(FrameDurationLimits([frame_us, frame_us]))
            .map_err(|e| format!("frame rate {}: {e:?}", s.fps))?;
    }
    cam.start(Some(&controls))
        .map_err(|e| format!("start: {e}"))?;
    for req in requests {
        cam.queue_request(req)
            .map_err(|(_, e)| format!("queue: {e}"))?;
    }
    let _ = ready.send(Ok(format!(
        "libcamera {id} {width}x{height} {format:?} at {:.1} fps",
        s.fps
    )));

    let row_bytes = width as usize * format.bytes_per_pixel();
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut req) = done_rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let ts = now_us();
        let fb: Option<&MemoryMappedFrameBuffer<FrameBuffer>> = req.buffer(&stream);
        // A frame whose buffer is shorter than the configuration says is skipped.
        if let Some(plane) = fb.and_then(|fb| fb.data().first().copied())
            && plane.len() >= stride * (height as usize - 1) + row_bytes
        {
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            for (y, dst) in rgb.chunks_exact_mut(width as usize * 3).enumerate() {
                format.row_to_rgb(&plane[y * stride..y * stride + row_bytes], dst);
            }
            frames.put(Ok(Frame {
                seq: 0,
                capture_ts_us: ts,
                width,
                height,
                rgb,
            }));
        }
        req.reuse(ReuseFlag::REUSE_BUFFERS);
        cam.queue_request(req)
            .map_err(|(_, e)| format!("requeue: {e}"))?;
    }
    let _ = cam.stop();
    Ok(())
}

/// The cameras libcamera sees: (index, id).
pub fn list() -> Result<Vec<(usize, String)>, String> {
    let mgr = CameraManager::new().map_err(|e| format!("camera manager: {e}"))?;
    let cameras = mgr.cameras();
    Ok((0..cameras.len())
        .filter_map(|i| cameras.get(i).map(|c| (i, c.id().to_owned())))
        .collect())
}
