;;; test-eglot.el --- deepseek-ls in a real Emacs + eglot -*- lexical-binding: t -*-
;;
;; Run by tests/editors/test_emacs.py as
;;   emacs -Q --batch -l tests/editors/emacs/test-eglot.el
;; with, in the environment:
;;   DSLS_SNIPPET  the elisp block of docs/editors-other.md (server path and base URL filled in)
;;   DSLS_FILE     a Python file whose line 2 is "    re"
;;   DSLS_EXPECT   what line 2 must read after completion-at-point
;;   DSLS_EXPLAIN / DSLS_CHAT  the fake's answers to explain / chat
;;   DSLS_ACTION_EXPECT  text the code action "complete the code at the cursor" must add
;;   DSLS_RESULT   where to write the JSON result
;;   DSLS_TIMEOUT  watchdog, seconds
;; Exit code: 0 all checks passed, 1 a check failed, 2 Lisp error, 3 watchdog.

(require 'eglot)
(require 'json)
(require 'cl-lib)

;; Defined by the doc's snippet, loaded at run time.
(defvar deepseek-ls--session)
(declare-function deepseek-ls-chat nil (message))
(declare-function deepseek-ls-explain-region nil (beg end))

(defvar dsls-checks nil "List of (NAME OK DETAIL), newest first.")
(defvar dsls-info nil "Alist of extra facts for the report.")
(defvar dsls-server nil)

(defun dsls-env (name)
  (or (getenv name) (error "environment variable %s is not set" name)))

(defun dsls-check (name ok &optional detail)
  (push (list name (and ok t) (format "%s" (or detail ""))) dsls-checks)
  (princ (format "%s %s %s\n" (if ok "ok  " "FAIL") name (or detail "")))
  ok)

(defun dsls-events ()
  "The tail of eglot's events buffer, for failure reports."
  (let ((buf (and dsls-server (jsonrpc-events-buffer dsls-server))))
    (if (buffer-live-p buf)
        (with-current-buffer buf
          (buffer-substring-no-properties (max (point-min) (- (point-max) 6000)) (point-max)))
      "")))

(defun dsls-finish (code &optional reason no-shutdown)
  "Write the result file and exit with CODE.
NO-SHUTDOWN (the watchdog): skip the polite LSP shutdown, which waits in
jsonrpc and could be unwound by an outer request's reply; Emacs kills the
server process when it exits."
  (let ((json-encoding-pretty-print nil))
    (with-temp-file (dsls-env "DSLS_RESULT")
      (insert (json-encode
               `((code . ,code)
                 (reason . ,(or reason ""))
                 (checks . ,(vconcat
                             (mapcar (lambda (c) `((name . ,(nth 0 c))
                                                   (ok . ,(if (nth 1 c) t :json-false))
                                                   (detail . ,(nth 2 c))))
                                     (reverse dsls-checks))))
                 (info . ,dsls-info)
                 (events . ,(if (eq code 0) "" (dsls-events))))))))
  (when (and (not no-shutdown) dsls-server (jsonrpc-running-p dsls-server))
    (ignore-errors (eglot-shutdown dsls-server nil 3)))
  (kill-emacs code))

(defun dsls-wait (pred seconds)
  "Run the event loop until PRED is non-nil or SECONDS pass; return PRED's value."
  (let ((end (+ (float-time) seconds)) val)
    (while (and (not (setq val (funcall pred))) (< (float-time) end))
      (accept-process-output nil 0.05))
    val))

(defun dsls-main ()
  (let ((t0 (float-time)))
    ;; The documented snippet, with only the program path and base URL filled in.
    (load (dsls-env "DSLS_SNIPPET") nil t t)
    (setq eglot-sync-connect t
          eglot-connect-timeout 20
          eglot-events-buffer-config '(:size 2000000 :format full))
    (find-file (dsls-env "DSLS_FILE"))
    (dsls-check "python buffer" (derived-mode-p 'python-mode) major-mode)
    ;; Start eglot the way M-x eglot does: the contact comes from eglot-server-programs.
    (let ((contact (eglot--guess-contact)))
      (push (cons 'contact (format "%S" (nth 3 contact))) dsls-info)
      (dsls-check "eglot-server-programs entry used"
                  (and (consp (nth 3 contact))
                       (string-suffix-p "deepseek-ls" (car (nth 3 contact)))
                       (plist-get (cdr (nth 3 contact)) :initializationOptions))
                  (nth 3 contact))
      (apply #'eglot contact)
      (setq dsls-server (eglot-current-server)))
    (dsls-check "eglot connected" (and dsls-server (eglot-managed-p))
                (format "%.0f ms" (* 1000 (- (float-time) t0))))
    (unless (eglot-managed-p) (dsls-finish 1 "eglot did not connect"))
    (let* ((commands (append (eglot-server-capable :executeCommandProvider :commands) nil)))
      (push (cons 'commands (vconcat commands)) dsls-info)
      ;; 1. completion-at-point on "    re|"
      (goto-char (point-min)) (forward-line 1) (end-of-line)
      (let* ((capf (eglot-completion-at-point))
             (cands (and capf (all-completions "" (nth 2 capf)))))
        (push (cons 'candidates (vconcat (mapcar #'substring-no-properties cands))) dsls-info)
        (dsls-check "DeepSeek candidate offered"
                    (cl-some (lambda (c)
                               (equal (plist-get (get-text-property 0 'eglot--lsp-item c) :detail)
                                      "DeepSeek"))
                             cands)
                    (format "%S" (mapcar #'substring-no-properties cands))))
      (completion-at-point)
      (let ((line2 (save-excursion (goto-char (point-min)) (forward-line 1)
                                   (buffer-substring-no-properties (line-beginning-position)
                                                                   (line-end-position)))))
        (dsls-check "completion-at-point applied the suggestion"
                    (equal line2 (dsls-env "DSLS_EXPECT")) (format "line 2 = %S" line2)))
      ;; 2. code actions: listed, and "complete the code at the cursor" resolved and applied
      (let* ((pos (eglot--pos-to-lsp-position))
             (actions (append (jsonrpc-request dsls-server :textDocument/codeAction
                                               (list :textDocument (eglot--TextDocumentIdentifier)
                                                     :range (list :start pos :end pos)
                                                     :context (list :diagnostics [])))
                              nil))
             (titles (mapcar (lambda (a) (plist-get a :title)) actions))
             (complete (cl-find "DeepSeek: complete the code at the cursor" actions
                                :key (lambda (a) (plist-get a :title)) :test #'equal))
             (before (buffer-string)))
        (push (cons 'code_actions (vconcat titles)) dsls-info)
        (dsls-check "DeepSeek code actions listed" complete (format "%S" titles))
        (when complete
          (eglot-execute dsls-server complete)
          (let ((want (dsls-env "DSLS_ACTION_EXPECT")))
            (dsls-check "code action applied"
                        (dsls-wait (lambda () (string-search want (buffer-string))) 10)
                        (format "buffer: %S (before %S)" (buffer-string) before)))))
      ;; 3. commands, through the snippet's helpers
      (if (not (and (member "deepseek.explainSelection" commands) (member "deepseek.chat" commands)))
          (progn (push (cons 'skipped_commands "deepseek.explainSelection / deepseek.chat not listed") dsls-info)
                 (princ "skip commands: the server does not list deepseek.explainSelection/deepseek.chat\n"))
        (deepseek-ls-explain-region (point-min) (save-excursion (goto-char (point-min)) (line-end-position 2)))
        (let ((explain (dsls-env "DSLS_EXPLAIN")))
          (dsls-check "deepseek-ls-explain-region answer in *deepseek*"
                      (dsls-wait (lambda () (and (get-buffer "*deepseek*")
                                                 (with-current-buffer "*deepseek*"
                                                   (string-search explain (buffer-string)))))
                                 20)
                      explain))
        (push (cons 'session (or deepseek-ls--session "")) dsls-info)
        (deepseek-ls-chat "What does it return?")
        (let ((chat (dsls-env "DSLS_CHAT")))
          (dsls-check "deepseek-ls-chat answer in *deepseek*"
                      (dsls-wait (lambda () (with-current-buffer "*deepseek*"
                                              (string-search chat (buffer-string))))
                                 20)
                      chat))))
    (push (cons 'elapsed_ms (round (* 1000 (- (float-time) t0)))) dsls-info)
    (dsls-finish (if (cl-every #'cadr dsls-checks) 0 1))))

;; Watchdog: timers run while eglot/jsonrpc wait for output, so this fires even mid-request.
(run-at-time (string-to-number (or (getenv "DSLS_TIMEOUT") "45")) nil
             (lambda () (dsls-check "watchdog" nil "timed out") (dsls-finish 3 "watchdog" t)))

(condition-case err
    (dsls-main)
  (error (dsls-check "lisp error" nil (error-message-string err))
         (dsls-finish 2 (error-message-string err))))
