// Live updates: the screen on show is read again every few seconds with the same API calls its
// Refresh button makes (polling: no server push, so nothing new for the ACL to guard). A change
// is announced politely in an aria-live region; nothing moves focus, and the screens keep the
// user's filters, page, open lease and typed text (see app.js). The loop skips a turn while
// live updates are off, the tab is hidden, a confirmation dialog is open or an action runs.

const $ = (id) => document.getElementById(id);

let timer = 0;
let running = false;

/** Start the loop. `refresh()` reads the screen on show again and answers what changed, as a
 *  sentence to announce, or '' for nothing; `waiting()` answers true while no refresh may run. */
export function startLive({ refresh, waiting }) {
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(turn, Number($('live-every').value || 5) * 1000);
  };
  const turn = async () => {
    if (!$('live-on').checked || running || waiting() || document.hidden) {
      schedule();
      return;
    }
    running = true;
    try {
      const news = await refresh();
      $('live-when').textContent = `updated ${new Date().toLocaleTimeString()}`;
      if (news) announce(news);
    } finally {
      running = false;
      schedule();
    }
  };
  $('live-on').addEventListener('change', () => {
    $('live-every').disabled = !$('live-on').checked;
    $('live-when').textContent = $('live-on').checked ? '' : 'paused';
    announce($('live-on').checked ? 'Live updates on.' : 'Live updates paused.');
    schedule();
  });
  $('live-every').addEventListener('change', schedule);
  schedule();
}

/** Say `text` in the polite live region (cleared first, so the same sentence is said again). */
export function announce(text) {
  const news = $('live-news');
  news.textContent = '';
  // A fresh text node after the clear is what screen readers pick up as a change.
  setTimeout(() => {
    news.textContent = text;
  }, 50);
}
