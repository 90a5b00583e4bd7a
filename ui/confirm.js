// The confirmation dialog: a modal <dialog> (the rest of the page is inert while it is open,
// Escape cancels), opened from a button and giving focus back to that button when it closes
// (what the answer then does may move it on: see markEnded in app.js).

const $ = (id) => document.getElementById(id);

/** Whether the dialog is open (live updates wait while it is). */
export const confirming = () => $('confirm').open;

/** Ask; answers true when the person pressed `ok`. `text` goes in as text, never as HTML. */
export function confirmAction({ title, text, ok }) {
  const dialog = $('confirm');
  const opener = document.activeElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = ok;
  return new Promise((resolve) => {
    let answer = false;
    const okClicked = () => {
      answer = true;
      dialog.close();
    };
    const cancelClicked = () => dialog.close();
    const closed = () => {
      $('confirm-ok').removeEventListener('click', okClicked);
      $('confirm-cancel').removeEventListener('click', cancelClicked);
      resolve(answer);
      if (opener && opener.isConnected) opener.focus();
    };
    $('confirm-ok').addEventListener('click', okClicked);
    $('confirm-cancel').addEventListener('click', cancelClicked);
    dialog.addEventListener('close', closed, { once: true });
    dialog.showModal();
  });
}
