//! Status LED and privacy button on the Pi's GPIO (rppal, feature `gpio`), behind small traits.
//!
//! The LED blinks while keypoints are being delivered, is solid while the broker is unreachable
//! (messages queue up but nothing is delivered), and is off otherwise and after stopping. A press
//! of the button toggles privacy mode.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::publish::PublishStats;
use crate::state::Shared;

/// GPIO settings (BCM pin numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpioConfig {
    /// Status LED pin (driven high = on).
    pub led_pin: Option<u8>,
    /// Privacy button pin, wired to ground (internal pull-up; pressed reads low).
    pub button_pin: Option<u8>,
}

/// `[gpio]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct GpioFlags {
    /// GPIO pin (BCM) of the status LED (build with --features gpio)
    #[arg(long = "gpio-led-pin", global = true)]
    pub led_pin: Option<u8>,
    /// GPIO pin (BCM) of the privacy button, wired to ground (build with --features gpio)
    #[arg(long = "gpio-button-pin", global = true)]
    pub button_pin: Option<u8>,
}

/// A light that can be switched on and off.
pub trait Led: Send {
    fn set(&mut self, on: bool);
}

/// A push button.
pub trait Button: Send {
    fn is_pressed(&mut self) -> bool;
}

/// What the LED shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedMode {
    Off,
    Blink,
    Solid,
}

/// Seconds without a delivery, with messages waiting, after which the broker counts as unreachable.
const UNREACHABLE_AFTER: Duration = Duration::from_secs(5);
/// A delivery within this window counts as "publishing".
const PUBLISHING_WINDOW: Duration = Duration::from_secs(2);
/// A press must read the same for this long to count (debounce).
const DEBOUNCE: Duration = Duration::from_millis(50);
/// Controller tick and LED blink half-period.
pub const TICK: Duration = Duration::from_millis(250);

/// The LED rule, from how long ago keypoints were last delivered and whether any wait in the queue.
pub fn led_mode(since_delivery: Option<Duration>, waiting: bool) -> LedMode {
    match since_delivery {
        Some(d) if d <= PUBLISHING_WINDOW => LedMode::Blink,
        Some(d) if waiting && d >= UNREACHABLE_AFTER => LedMode::Solid,
        None if waiting => LedMode::Solid,
        _ => LedMode::Off,
    }
}

/// Drives an LED and reads a button from the run's counters and shared state.
pub struct Controller {
    led: Option<Box<dyn Led>>,
    button: Option<Box<dyn Button>>,
    last_delivered: u64,
    last_delivery_at: Option<Instant>,
    started: Instant,
    blink_on: bool,
    pressed: bool,
    raw_since: Option<(bool, Instant)>,
}

impl Controller {
    pub fn new(led: Option<Box<dyn Led>>, button: Option<Box<dyn Button>>) -> Self {
        Self {
            led,
            button,
            last_delivered: 0,
            last_delivery_at: None,
            started: Instant::now(),
            blink_on: false,
            pressed: false,
            raw_since: None,
        }
    }

    /// One tick at `now`: updates the LED and toggles privacy on a debounced press.
    pub fn tick(&mut self, now: Instant, shared: &Shared, publish: &PublishStats) {
        let k = &publish.keypoints;
        let delivered = k.delivered.get();
        if delivered > self.last_delivered {
            self.last_delivered = delivered;
            self.last_delivery_at = Some(now);
        }
        let since = self
            .last_delivery_at
            .map(|t| now.saturating_duration_since(t));
        // Before the first delivery, waiting counts only after the same grace as later gaps.
        let grace_over = self.last_delivery_at.is_some()
            || now.saturating_duration_since(self.started) >= UNREACHABLE_AFTER;
        let waiting = k.enqueued.get() > delivered + k.failed.get() && grace_over;
        let mode = if shared.stop.is_set() {
            LedMode::Off
        } else {
            led_mode(since, waiting)
        };
        self.blink_on = !self.blink_on;
        if let Some(led) = &mut self.led {
            led.set(match mode {
                LedMode::Off => false,
                LedMode::Solid => true,
                LedMode::Blink => self.blink_on,
            });
        }
        if let Some(button) = &mut self.button {
            let raw = button.is_pressed();
            match self.raw_since {
                Some((r, t)) if r == raw => {
                    if now.saturating_duration_since(t) >= DEBOUNCE && raw != self.pressed {
                        self.pressed = raw;
                        if raw {
                            let privacy = !shared.privacy.load(Ordering::Relaxed);
                            shared.privacy.store(privacy, Ordering::Relaxed);
                            info!(privacy, "privacy button pressed");
                        }
                    }
                }
                _ => self.raw_since = Some((raw, now)),
            }
        }
    }

    /// Runs ticks until `shared.stop`, then turns the LED off.
    pub fn run(mut self, shared: &Shared, publish: &PublishStats, tick: Duration) {
        while !shared.stop.is_set() {
            self.tick(Instant::now(), shared, publish);
            std::thread::sleep(tick);
        }
        if let Some(led) = &mut self.led {
            led.set(false);
        }
    }
}

/// Why GPIO could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    #[error(
        "GPIO pins are configured but this build has no GPIO support (build with `--features gpio`)"
    )]
    NotBuilt,
    #[error(
        "cannot use GPIO pin {pin}: {reason} (is this a Raspberry Pi, and may this user open /dev/gpiomem?)"
    )]
    Pin { pin: u8, reason: String },
}

/// Opens the configured pins and starts the controller on a thread of its own. `Ok(None)` when no
/// pin is configured.
pub fn spawn(
    cfg: &GpioConfig,
    shared: Arc<Shared>,
    publish: Arc<PublishStats>,
) -> Result<Option<std::thread::JoinHandle<()>>, GpioError> {
    if cfg.led_pin.is_none() && cfg.button_pin.is_none() {
        return Ok(None);
    }
    let (led, button) = open_pins(cfg)?;
    let controller = Controller::new(led, button);
    std::thread::Builder::new()
        .name("gpio".into())
        .spawn(move || controller.run(&shared, &publish, TICK))
        .map(Some)
        .map_err(|e| GpioError::Pin {
            pin: cfg.led_pin.or(cfg.button_pin).unwrap_or(0),
            reason: e.to_string(),
        })
}

type Pins = (Option<Box<dyn Led>>, Option<Box<dyn Button>>);

#[cfg(feature = "gpio")]
fn open_pins(cfg: &GpioConfig) -> Result<Pins, GpioError> {
    use rppal::gpio::{Gpio, InputPin, OutputPin};

    struct PinLed(OutputPin);
    impl Led for PinLed {
        fn set(&mut self, on: bool) {
            if on {
                self.0.set_high()
            } else {
                self.0.set_low()
            }
        }
    }
    struct PinButton(InputPin);
    impl Button for PinButton {
        fn is_pressed(&mut self) -> bool {
            self.0.is_low()
        }
    }

    let err = |pin: u8| {
        move |e: rppal::gpio::Error| GpioError::Pin {
            pin,
            reason: e.to_string(),
        }
    };
    let first = cfg.led_pin.or(cfg.button_pin).unwrap_or(0);
    let gpio = Gpio::new().map_err(err(first))?;
    let led = match cfg.led_pin {
        Some(pin) => Some(
            Box::new(PinLed(gpio.get(pin).map_err(err(pin))?.into_output_low())) as Box<dyn Led>,
        ),
        None => None,
    };
    let button = match cfg.button_pin {
        Some(pin) => Some(Box::new(PinButton(
            gpio.get(pin).map_err(err(pin))?.into_input_pullup(),
        )) as Box<dyn Button>),
        None => None,
    };
    Ok((led, button))
}

#[cfg(not(feature = "gpio"))]
fn open_pins(_cfg: &GpioConfig) -> Result<Pins, GpioError> {
    Err(GpioError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn led_rule() {
        let s = Duration::from_secs;
        assert_eq!(led_mode(Some(s(1)), false), LedMode::Blink);
        assert_eq!(led_mode(Some(s(1)), true), LedMode::Blink);
        assert_eq!(
            led_mode(Some(s(3)), true),
            LedMode::Off,
            "a short gap is not an outage"
        );
        assert_eq!(
            led_mode(Some(s(6)), true),
            LedMode::Solid,
            "queued and nothing delivered"
        );
        assert_eq!(
            led_mode(Some(s(6)), false),
            LedMode::Off,
            "idle: nothing to send"
        );
        assert_eq!(led_mode(None, true), LedMode::Solid);
        assert_eq!(led_mode(None, false), LedMode::Off);
    }

    struct FakeLed(Arc<Mutex<Vec<bool>>>);
    impl Led for FakeLed {
        fn set(&mut self, on: bool) {
            self.0.lock().unwrap().push(on);
        }
    }
    struct FakeButton(Arc<Mutex<bool>>);
    impl Button for FakeButton {
        fn is_pressed(&mut self) -> bool {
            *self.0.lock().unwrap()
        }
    }

    #[test]
    fn controller_blinks_while_delivering_goes_solid_when_stuck_and_toggles_privacy() {
        let led_log = Arc::new(Mutex::new(Vec::new()));
        let pressed = Arc::new(Mutex::new(false));
        let mut c = Controller::new(
            Some(Box::new(FakeLed(led_log.clone()))),
            Some(Box::new(FakeButton(pressed.clone()))),
        );
        let shared = Shared::new(false);
        let publish = PublishStats::default();
        let t0 = Instant::now();
        let tick =
            |c: &mut Controller, ms: u64| c.tick(t0 + Duration::from_millis(ms), &shared, &publish);

        // Deliveries: blink (alternating on/off).
        for ms in (0..4).map(|i| i * 250) {
            // 10 more enqueued and delivered per tick (40 after the loop).
            publish.keypoints.enqueued.inc_by(10);
            publish.keypoints.delivered.inc_by(10);
            tick(&mut c, ms);
        }
        let log = led_log.lock().unwrap().clone();
        assert_eq!(log, vec![true, false, true, false]);
        // Queue grows, nothing delivered for more than 5 s: solid.
        publish.keypoints.enqueued.inc_by(460);
        tick(&mut c, 7_000);
        tick(&mut c, 7_250);
        assert_eq!(&led_log.lock().unwrap()[4..], &[true, true]);

        // A bounce shorter than the debounce does nothing; a held press toggles once.
        *pressed.lock().unwrap() = true;
        tick(&mut c, 8_000);
        *pressed.lock().unwrap() = false;
        tick(&mut c, 8_020);
        assert!(!shared.privacy.load(Ordering::Relaxed));
        *pressed.lock().unwrap() = true;
        tick(&mut c, 9_000);
        tick(&mut c, 9_100);
        tick(&mut c, 9_200);
        assert!(
            shared.privacy.load(Ordering::Relaxed),
            "pressed: privacy on"
        );
        *pressed.lock().unwrap() = false;
        tick(&mut c, 9_300);
        tick(&mut c, 9_400);
        *pressed.lock().unwrap() = true;
        tick(&mut c, 9_500);
        tick(&mut c, 9_600);
        assert!(
            !shared.privacy.load(Ordering::Relaxed),
            "pressed again: privacy off"
        );

        // Stopped: off.
        shared.stop.set();
        tick(&mut c, 10_000);
        assert_eq!(led_log.lock().unwrap().last(), Some(&false));
    }

    #[cfg(not(feature = "gpio"))]
    #[test]
    fn configured_pins_without_the_feature_are_a_clear_error() {
        let cfg = GpioConfig {
            led_pin: Some(17),
            button_pin: None,
        };
        let err = spawn(&cfg, Shared::new(false), Arc::new(PublishStats::default()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("--features gpio"));
    }

    #[cfg(feature = "gpio")]
    #[test]
    fn configured_pins_off_a_pi_are_a_clear_error() {
        // This machine has no Raspberry Pi GPIO: rppal refuses, and the error says what to check.
        if std::path::Path::new("/dev/gpiomem").exists() {
            return; // on a Pi the pins may open; nothing to check here
        }
        let cfg = GpioConfig {
            led_pin: Some(17),
            button_pin: None,
        };
        let err = spawn(&cfg, Shared::new(false), Arc::new(PublishStats::default()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("Raspberry Pi"), "{err}");
    }

    #[test]
    fn no_pins_no_thread() {
        assert!(
            spawn(
                &GpioConfig::default(),
                Shared::new(false),
                Arc::new(PublishStats::default())
            )
            .unwrap()
            .is_none()
        );
    }
}
