;;; test-eglot-context.el --- project context through real eglot (parser fallback) -*- lexical-binding: t -*-
;;
;; Run by tests/editors/test_emacs_context.py as
;;   emacs -Q --batch -l tests/editors/emacs/test-eglot-context.el
;; with, in the environment:
;;   DSLS_SNIPPET   the elisp block of docs/editors-other.md (server path and base URL filled in)
;;   DSLS_FILE      main.py, the only file opened; it imports from DSLS_OTHER
;;   DSLS_OTHER     shapes.py, never visited here
;;   DSLS_ROOT      the project directory eglot must send as rootUri / workspaceFolders
;;   DSLS_MARK      the text the cursor is put after (the first occurrence in DSLS_FILE)
;;   DSLS_EXPECT    what the cursor's line must read after completion-at-point
;;   DSLS_VARIANT   "documented": the doc's snippet as is (eglot does not announce
;;                  deepseek/definitions, so the server must not send it);
;;                  "file-block": the same with deepseek.context.budgetTokens 255 in the
;;                  initializationOptions (no project block: the definition must come
;;                  through main.py's import, into main.py's own block);
;;                  "utf-16": the doc's snippet, eglot offering only UTF-16 positions (it
;;                  prefers UTF-32; the emoji before the cursor counts twice in UTF-16);
;;                  "null-answer": :deepseekDefinitions t added to the snippet's
;;                  initializationOptions, eglot answers the request as it answers any
;;                  unknown one (result null);
;;                  "error-answer": the same with `eglot-strict-mode' '(disallow-unknown-methods),
;;                  so eglot answers it with a JSON-RPC error
;;   DSLS_WAIT      seconds to keep re-asking for the completion (the fake answers only
;;                  once the definition is in the FIM prompt)
;;   DSLS_RESULT    where to write the JSON result
;;   DSLS_TIMEOUT   watchdog, seconds
;; Exit code: 0 all checks passed, 1 a check failed, 2 Lisp error, 3 watchdog.

(require 'eglot)
(require 'project)
(require 'json)
(require 'cl-lib)

(defvar dsls-checks nil "List of (NAME OK DETAIL), newest first.")
(defvar dsls-info nil "Alist of extra facts for the report.")
(defvar dsls-server nil)
(defvar dsls-server-requests nil
  "Server->client requests eglot handled, newest first.
Each a plist (:method :outcome :detail).")
(defvar dsls-messages nil "window/showMessage notifications, newest first: (TYPE . MESSAGE).")

(defun dsls-env (name)
  (or (getenv name) (error "environment variable %s is not set" name)))

(defun dsls-check (name ok &optional detail)
  (push (list name (and ok t) (format "%s" (or detail ""))) dsls-checks)
  (princ (format "%s %s %s\n" (if ok "ok  " "FAIL") name (or detail "")))
  ok)

(defun dsls-buffer-text (buf &optional tail)
  "BUF's text (its last TAIL characters when TAIL), \"\" when BUF is gone."
  (if (buffer-live-p buf)
      (with-current-buffer buf
        (buffer-substring-no-properties (if tail (max (point-min) (- (point-max) tail)) (point-min))
                                        (point-max)))
    ""))

(defun dsls-stderr ()
  "What the server wrote on stderr so far."
  (or (ignore-errors (dsls-buffer-text (jsonrpc-stderr-buffer dsls-server))) ""))

(defun dsls-finish (code &optional reason no-shutdown)
  "Write the result file and exit with CODE.
REASON goes to the result; NO-SHUTDOWN: the watchdog (see test-eglot.el)."
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
                 (server_requests . ,(vconcat (reverse dsls-server-requests)))
                 (messages . ,(vconcat (mapcar (lambda (m) `((type . ,(car m)) (message . ,(cdr m))))
                                               (reverse dsls-messages))))
                 (stderr . ,(if dsls-server (dsls-stderr) ""))
                 (events . ,(if (and (not (eq code 0)) dsls-server)
                                (dsls-buffer-text (jsonrpc-events-buffer dsls-server) 8000)
                              ""))))))
    ;; the polite shutdown: the server must still answer after the definitions episode
    (when (and (not no-shutdown) dsls-server (jsonrpc-running-p dsls-server))
      (let ((ok (condition-case err (progn (eglot-shutdown dsls-server nil 5) t)
                  (error (format "%s" (error-message-string err))))))
        (unless (eq ok t)
          (princ (format "shutdown failed: %s\n" ok))
          (setq code (if (eq code 0) 1 code))))))
  (kill-emacs code))

(defun dsls-wait (pred seconds)
  "Run the event loop until PRED is non-nil or SECONDS pass; return PRED's value."
  (let ((end (+ (float-time) seconds)) val)
    (while (and (not (setq val (funcall pred))) (< (float-time) end))
      (accept-process-output nil 0.05))
    val))

(defun dsls-record-request (fn server method &rest params)
  "Around `eglot-handle-request' (FN): record METHOD and eglot's answer.
SERVER and PARAMS are passed on."
  (condition-case err
      (let ((result (apply fn server method params)))
        (push (list :method (format "%s" method) :outcome "result"
                    :detail (format "%S" result))
              dsls-server-requests)
        result)
    (error
     (push (list :method (format "%s" method) :outcome "error"
                 :detail (format "%S" err))
           dsls-server-requests)
     (signal (car err) (cdr err)))))

(defun dsls-record-notification (server method &rest params)
  "Before `eglot-handle-notification': remember window/showMessage."
  (ignore server)
  (when (eq method 'window/showMessage)
    (push (cons (plist-get params :type) (plist-get params :message)) dsls-messages)))

(defun dsls-edit-init-options (edit)
  "Replace the snippet's Python initializationOptions by (EDIT options)."
  (let ((entry (cl-find-if (lambda (e) (and (consp (car e)) (memq 'python-mode (car e))))
                           eglot-server-programs)))
    (unless entry (error "no python-mode entry in eglot-server-programs"))
    (let* ((contact (cdr entry))
           (options (plist-get (cdr contact) :initializationOptions)))
      (setcdr entry (cons (car contact)
                          (plist-put (copy-sequence (cdr contact)) :initializationOptions
                                     (funcall edit (copy-sequence options))))))))

(defun dsls-announce-definitions ()
  "Add :deepseekDefinitions t to the snippet's initializationOptions."
  (dsls-edit-init-options (lambda (options) (append (list :deepseekDefinitions t) options))))

(defun dsls-no-project-block ()
  "Set deepseek.context.budgetTokens 255 in the initializationOptions.
Half of it is under one 128-token cache unit, so there is no project block:
what the file needs comes through its imports into its own block."
  (dsls-edit-init-options
   (lambda (options)
     (plist-put options :deepseek
                (plist-put (copy-sequence (plist-get options :deepseek)) :context '(:budgetTokens 255))))))

(defun dsls-utf-16-only (capabilities)
  "Filter on `eglot-client-capabilities' CAPABILITIES: offer only UTF-16."
  (plist-put capabilities :general (list :positionEncodings ["utf-16"])))

(defun dsls-deepseek-candidate ()
  "Ask the server for completions at point (invoked); the DeepSeek item or nil."
  (let* ((capf (eglot-completion-at-point))
         (cands (and capf (all-completions "" (nth 2 capf)))))
    (cl-find-if (lambda (c) (equal (plist-get (get-text-property 0 'eglot--lsp-item c) :detail)
                                   "DeepSeek"))
                cands)))

(defun dsls-main ()
  (let ((t0 (float-time))
        (variant (dsls-env "DSLS_VARIANT"))
        (root (file-name-as-directory (dsls-env "DSLS_ROOT"))))
    ;; The documented snippet, with only the program path and base URL filled in.
    (load (dsls-env "DSLS_SNIPPET") nil t t)
    (setq eglot-sync-connect t
          eglot-connect-timeout 20
          eglot-events-buffer-config '(:size 2000000 :format full)
          ;; project.el finds the root by VC markers (.git, ...) or these: the project
          ;; here has no VCS, only a pyproject.toml (Emacs 29+)
          project-vc-extra-root-markers '("pyproject.toml"))
    (pcase variant
      ("documented" nil)
      ("file-block" (dsls-no-project-block))
      ("utf-16" (advice-add 'eglot-client-capabilities :filter-return #'dsls-utf-16-only))
      ("null-answer" (dsls-announce-definitions))
      ("error-answer" (dsls-announce-definitions)
       (setq eglot-strict-mode '(disallow-unknown-methods)))
      (_ (error "unknown DSLS_VARIANT %S" variant)))
    (advice-add 'eglot-handle-request :around #'dsls-record-request)
    (advice-add 'eglot-handle-notification :before #'dsls-record-notification)
    (find-file (dsls-env "DSLS_FILE"))
    (dsls-check "python buffer" (derived-mode-p 'python-mode) major-mode)
    ;; Start eglot the way M-x eglot does: the contact comes from eglot-server-programs.
    (let ((contact (eglot--guess-contact)))
      (push (cons 'contact (format "%S" (nth 3 contact))) dsls-info)
      (dsls-check "eglot-server-programs entry used"
                  (and (consp (nth 3 contact))
                       (string-suffix-p "deepseek-ls" (car (nth 3 contact)))
                       (eq (and (plist-get (plist-get (cdr (nth 3 contact)) :initializationOptions)
                                           :deepseekDefinitions)
                                t)
                           (not (member variant '("documented" "file-block" "utf-16")))))
                  (nth 3 contact))
      (apply #'eglot contact)
      (setq dsls-server (eglot-current-server)))
    (dsls-check "eglot connected" (and dsls-server (eglot-managed-p))
                (format "%.0f ms" (* 1000 (- (float-time) t0))))
    (unless (eglot-managed-p) (dsls-finish 1 "eglot did not connect"))
    ;; What the server got as rootUri / workspaceFolders.
    (let* ((project-root (project-root (eglot--project dsls-server)))
           (folders (append (eglot-workspace-folders dsls-server) nil)))
      (push (cons 'project_root project-root) dsls-info)
      (push (cons 'workspace_folders (vconcat (mapcar (lambda (f) (plist-get f :uri)) folders))) dsls-info)
      (push (cons 'position_encoding (format "%s" (eglot-server-capable :positionEncoding))) dsls-info)
      (dsls-check "project root is the workspace directory"
                  (and (file-equal-p project-root root)
                       (= (length folders) 1)
                       (equal (plist-get (car folders) :uri) (eglot-path-to-uri root)))
                  (format "root %S folders %S" project-root folders)))
    ;; The cursor after the mark (on the line that calls the imported function).
    (goto-char (point-min))
    (dsls-check "mark found" (search-forward (dsls-env "DSLS_MARK") nil t) (dsls-env "DSLS_MARK"))
    ;; Invoked completions until the DeepSeek item comes: the fake answers only a FIM
    ;; prompt that holds shapes.py's definition (analysed in the background after didOpen).
    (let* ((wait (string-to-number (dsls-env "DSLS_WAIT")))
           (end (+ (float-time) wait))
           (attempts 0)
           cand)
      (while (and (not (setq cand (progn (cl-incf attempts) (dsls-deepseek-candidate))))
                  (< (float-time) end))
        (accept-process-output nil 0.3))
      (push (cons 'completion_attempts attempts) dsls-info)
      (dsls-check "DeepSeek candidate offered (definition in the prompt)" cand
                  (format "%d invoked completion(s) in %.1f s" attempts (- (float-time) (- end wait)))))
    (completion-at-point)
    (let ((line (buffer-substring-no-properties (line-beginning-position) (line-end-position))))
      (dsls-check "completion-at-point applied the suggestion"
                  (equal line (dsls-env "DSLS_EXPECT")) (format "line = %S" line)))
    (dsls-check "shapes.py never visited" (not (find-buffer-visiting (dsls-env "DSLS_OTHER"))))
    ;; deepseek/definitions: never sent to eglot as documented; sent and answered (null or
    ;; an error) when announced, and the server carries on.
    (let ((asked (lambda () (cl-find "deepseek/definitions" dsls-server-requests
                                     :key (lambda (r) (plist-get r :method)) :test #'equal))))
      (if (member variant '("documented" "file-block" "utf-16"))
          (progn
            (dsls-wait (lambda () nil) 0.5)   ; give a late request a chance to show up
            (dsls-check "no deepseek/definitions request" (not (funcall asked))
                        (format "%S" dsls-server-requests)))
        (let ((req (dsls-wait asked 10)))
          (dsls-check "deepseek/definitions sent to eglot" req (format "%S" dsls-server-requests))
          (when req
            (push (cons 'definitions_answer (format "%s %s" (plist-get req :outcome) (plist-get req :detail)))
                  dsls-info)
            (dsls-check "eglot answered it as an unknown request"
                        (equal (plist-get req :outcome)
                               (if (equal variant "error-answer") "error" "result"))
                        (format "%S" req)))))
      ;; the server still answers after it
      (let* ((pos (eglot--pos-to-lsp-position))
             (actions (jsonrpc-request dsls-server :textDocument/codeAction
                                       (list :textDocument (eglot--TextDocumentIdentifier)
                                             :range (list :start pos :end pos)
                                             :context (list :diagnostics [])))))
        (dsls-check "server answers after the definitions episode" (> (length actions) 0)
                    (format "%d code actions" (length actions)))))
    (push (cons 'elapsed_ms (round (* 1000 (- (float-time) t0)))) dsls-info)
    (dsls-finish (if (cl-every #'cadr dsls-checks) 0 1))))

;; Watchdog: timers run while eglot/jsonrpc wait for output, so this fires even mid-request.
(run-at-time (string-to-number (or (getenv "DSLS_TIMEOUT") "45")) nil
             (lambda () (dsls-check "watchdog" nil "timed out") (dsls-finish 3 "watchdog" t)))

(condition-case err
    (dsls-main)
  (error (dsls-check "lisp error" nil (error-message-string err))
         (dsls-finish 2 (error-message-string err))))
