//! The prompt window's widgets (GTK 3, no WebKit) and how one request is drawn in them.
//!
//! Every text that comes from a request (the site's name and id, the account, the client's
//! process name) is set as plain text, never as Pango markup: a site named
//! `<span size="1">…` is shown as those characters, not interpreted.

use gtk::pango;
use gtk::prelude::*;

use crate::queue::Waiting;

/// See the module documentation.
#[derive(Debug)]
pub struct Ui {
    pub window: gtk::Window,
    title: gtk::Label,
    detail: gtk::Label,
    client: gtk::Label,
    accounts: gtk::Box,
    pub pin_row: gtk::Box,
    pub pin: gtk::Entry,
    pin_note: gtk::Label,
    notice: gtk::Label,
    bar: gtk::ProgressBar,
    time: gtk::Label,
    queue: gtk::Label,
    pub approve: gtk::Button,
    pub deny: gtk::Button,
}

fn label(wrap: bool) -> gtk::Label {
    let l = gtk::Label::new(None);
    l.set_xalign(0.0);
    l.set_line_wrap(wrap);
    l.set_max_width_chars(52);
    l.set_selectable(false);
    l
}

fn attrs(list: &[pango::Attribute]) -> pango::AttrList {
    let a = pango::AttrList::new();
    for attr in list {
        a.insert(attr.clone());
    }
    a
}

impl Ui {
    pub fn build() -> Ui {
        let window = gtk::Window::new(gtk::WindowType::Toplevel);
        window.set_title("tpm-passkey — approve a request");
        window.set_position(gtk::WindowPosition::Center);
        window.set_resizable(false);
        window.set_keep_above(true);
        window.set_default_size(460, -1);
        window.set_icon_name(Some("tpm-passkey"));

        let column = gtk::Box::new(gtk::Orientation::Vertical, 10);
        column.set_border_width(20);
        let title = label(true);
        title.set_attributes(Some(&attrs(&[
            pango::AttrInt::new_weight(pango::Weight::Bold).into(),
            pango::AttrFloat::new_scale(1.25).into(),
        ])));
        let detail = label(true);
        let client = label(true);
        client.style_context().add_class("dim-label");
        let accounts = gtk::Box::new(gtk::Orientation::Vertical, 4);

        let pin_row = gtk::Box::new(gtk::Orientation::Vertical, 4);
        let pin_line = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let pin_label = gtk::Label::with_mnemonic("_PIN");
        let pin = gtk::Entry::new();
        // Masked; an input method is told it is a password (none keeps it or suggests it).
        pin.set_visibility(false);
        pin.set_input_purpose(gtk::InputPurpose::Password);
        pin.set_activates_default(true);
        pin.set_hexpand(true);
        pin_label.set_mnemonic_widget(Some(&pin));
        pin_line.pack_start(&pin_label, false, false, 0);
        pin_line.pack_start(&pin, true, true, 0);
        let pin_note = label(true);
        pin_row.pack_start(&pin_line, false, false, 0);
        pin_row.pack_start(&pin_note, false, false, 0);

        let notice = label(true);
        notice.set_attributes(Some(&attrs(&[pango::AttrInt::new_weight(
            pango::Weight::Bold,
        )
        .into()])));
        let bar = gtk::ProgressBar::new();
        let time = label(false);
        let queue = label(false);

        let buttons = gtk::ButtonBox::new(gtk::Orientation::Horizontal);
        buttons.set_layout(gtk::ButtonBoxStyle::End);
        buttons.set_spacing(8);
        let deny = gtk::Button::with_mnemonic("_Deny");
        let approve = gtk::Button::with_label("Approve");
        approve.set_can_default(true);
        buttons.add(&deny);
        buttons.add(&approve);

        for w in [
            title.upcast_ref::<gtk::Widget>(),
            detail.upcast_ref(),
            client.upcast_ref(),
            accounts.upcast_ref(),
            pin_row.upcast_ref(),
            notice.upcast_ref(),
            bar.upcast_ref(),
            time.upcast_ref(),
            queue.upcast_ref(),
            buttons.upcast_ref(),
        ] {
            column.pack_start(w, false, false, 0);
        }
        window.add(&column);
        column.show_all();
        // Shown only when they have something to say.
        notice.set_visible(false);
        queue.set_visible(false);
        window.set_default(Some(&approve));
        Ui {
            window,
            title,
            detail,
            client,
            accounts,
            pin_row,
            pin,
            pin_note,
            notice,
            bar,
            time,
            queue,
            approve,
            deny,
        }
    }

    /// Draws request `w` (with `behind` more waiting). The PIN field is emptied.
    pub fn show(&self, w: &Waiting, behind: usize) {
        let words = &w.wording;
        self.title.set_text(&words.title);
        self.detail.set_text(&words.detail);
        self.client.set_text(&words.requested_by);
        for child in self.accounts.children() {
            self.accounts.remove(&child);
        }
        // Several accounts for the site: the person picks one; the first is chosen.
        let mut first: Option<gtk::RadioButton> = None;
        for name in &w.prompt.accounts {
            let radio = match &first {
                None => gtk::RadioButton::with_label(name),
                Some(f) => gtk::RadioButton::with_label_from_widget(f, name),
            };
            self.accounts.pack_start(&radio, false, false, 0);
            first.get_or_insert(radio);
        }
        self.accounts.show_all();
        self.accounts.set_visible(w.prompt.accounts.len() > 1);
        self.pin.set_text("");
        self.pin_row.set_visible(w.prompt.pin_required);
        let wrong = w.prompt.pin_was_wrong || w.prompt.pin_retries == Some(0);
        self.set_pin_note(words.pin_note.as_deref().unwrap_or(""), wrong);
        self.approve.set_label(&words.approve);
        let style = self.approve.style_context();
        style.remove_class("suggested-action");
        style.remove_class("destructive-action");
        style.add_class(if w.prompt.operation == tpm_passkey_ipc::Operation::Reset {
            "destructive-action"
        } else {
            "suggested-action"
        });
        self.set_behind(behind);
        self.tick(w);
    }

    pub fn set_pin_note(&self, text: &str, error: bool) {
        self.pin_note.set_text(text);
        self.pin_note.set_visible(!text.is_empty());
        let style = self.pin_note.style_context();
        if error {
            style.add_class("error");
        } else {
            style.remove_class("error");
        }
    }

    pub fn set_behind(&self, behind: usize) {
        self.queue.set_text(&format!(
            "{behind} more request{} waiting",
            if behind == 1 { "" } else { "s" }
        ));
        self.queue.set_visible(behind > 0);
    }

    /// The countdown: the bar and the seconds left.
    pub fn tick(&self, w: &Waiting) {
        let left = w
            .deadline
            .saturating_duration_since(std::time::Instant::now());
        let total = w.total.as_secs_f64().max(0.001);
        self.bar
            .set_fraction((left.as_secs_f64() / total).clamp(0.0, 1.0));
        self.time.set_text(&format!(
            "{} s left to answer",
            left.as_millis().div_ceil(1000)
        ));
    }

    /// A notice from the daemon (another program asked for the approval slot, a client was
    /// held back), shown above the countdown until the window closes.
    pub fn set_notice(&self, text: &str) {
        self.notice.set_text(text);
        self.notice.set_visible(!text.is_empty());
    }

    /// The account chosen, when the request lists several.
    pub fn choice(&self) -> Option<u32> {
        self.accounts
            .children()
            .iter()
            .position(|c| {
                c.downcast_ref::<gtk::RadioButton>()
                    .is_some_and(|r| r.is_active())
            })
            .map(|i| i as u32)
    }
}
